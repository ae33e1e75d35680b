#!/bin/sh
# Regenerates the golden --emit=shapes outputs with the exac of a build tree:
# tests/shapes/NAME.shapes for the sketch programs here, and
# tests/shapes/examples/NAME.shapes for every examples/NAME.exa.  Review the
# diff by eye: these files are the specification of the shapes.
#   tests/shapes/update.sh BUILD_DIR
set -e
build=$(cd "${1:?usage: update.sh BUILD_DIR}" && pwd)
dir=$(cd "$(dirname "$0")" && pwd)
examples=$(cd "$dir/../../examples" && pwd)
for f in "$dir"/*.exa; do
  name=$(basename "$f" .exa)
  cmake -DEXAC="$build/bin/exac" -DDIR="$dir" -DNAME="$name" -DEXPECTED="$dir/$name.shapes" \
        -DUPDATE=1 -P "$dir/run_case.cmake"
done
mkdir -p "$dir/examples"
for f in "$examples"/*.exa; do
  name=$(basename "$f" .exa)
  cmake -DEXAC="$build/bin/exac" -DDIR="$examples" -DNAME="$name" \
        -DEXPECTED="$dir/examples/$name.shapes" -DUPDATE=1 -P "$dir/run_case.cmake"
done
