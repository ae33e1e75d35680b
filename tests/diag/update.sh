#!/bin/sh
# Regenerates the expected stderr (NAME.err) of every golden case (or of the
# NAMEs given) with the exac of a build tree; review the diff by eye.
#   tests/diag/update.sh BUILD_DIR [NAME...]
set -e
build=${1:?usage: update.sh BUILD_DIR [NAME...]}
shift
dir=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
cd "$dir"
if [ $# -eq 0 ]; then
  set -- $(ls *.exa | sed 's/\.exa$//')
fi
for name in "$@"; do
  cmake -DEXAC="$build/bin/exac" -DSTDLIB="$build/share/exa/stdlib" -DDIR="$dir" \
        -DNAME="$name" -DUPDATE=1 -P "$dir/run_case.cmake"
done
