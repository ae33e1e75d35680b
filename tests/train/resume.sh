#!/bin/sh
# resume.sh - a run interrupted and resumed ends bit for bit where an
# uninterrupted run ends.
#
#   sh resume.sh EXAC SRC WORKDIR EPOCHS K [ARGS...]
#
# A: EPOCHS epochs with --checkpoint A.  B: the same with --checkpoint B and
# --stop-after K (as if killed after K epochs), then --resume to the end.
# The final checkpoint files A and B must be byte-identical (cmp): same
# parameters, optimiser state, epoch, step and checksum.
set -u
exac=$1 src=$2 work=$3 epochs=$4 k=$5
shift 5
rm -rf "$work" && mkdir -p "$work" || exit 1
bin=$work/prog
"$exac" "$src" -o "$bin" || { echo "FAIL: exac $src" >&2; exit 1; }
run() { echo "+ prog $*"; "$bin" --quiet --epochs "$epochs" "$@" || { echo "FAIL: exit status $? from: prog $*" >&2; exit 1; }; }
# the epoch field (offset 16, 8 bytes little-endian) of a checkpoint
epoch_of() { od -An -j16 -N8 -tu8 "$1" | tr -d ' '; }
run --checkpoint "$work/A" "$@"
run --checkpoint "$work/B" --stop-after "$k" "$@"
got=$(epoch_of "$work/B/checkpoint.exa")
[ "$got" = "$k" ] || { echo "FAIL: --stop-after $k left a checkpoint of epoch $got" >&2; exit 1; }
cp "$work/B/checkpoint.exa" "$work/after_k.exa"
run --checkpoint "$work/B" --resume "$@"
got=$(epoch_of "$work/B/checkpoint.exa")
[ "$got" = "$epochs" ] || { echo "FAIL: the resumed run ended at epoch $got, not $epochs" >&2; exit 1; }
if cmp -s "$work/after_k.exa" "$work/A/checkpoint.exa"; then
    echo "FAIL: nothing was trained after epoch $k" >&2
    exit 1
fi
if ! cmp "$work/A/checkpoint.exa" "$work/B/checkpoint.exa"; then
    echo "FAIL: the resumed run's final checkpoint differs from the uninterrupted run's" >&2
    exit 1
fi
echo "ok: $(wc -c <"$work/A/checkpoint.exa") bytes identical after $epochs epochs, resumed after $k"
