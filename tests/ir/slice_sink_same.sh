#!/bin/sh
# slice_sink_same.sh EXAC CKPT_DIFF SRC WORK - a slice of a sum taken as the
# sum of the operands' slices (compiler/ir/slice_sink.c) changes where the
# additions run, not their results:
#   - exa_loss of SRC (a stacked GRU of 4 over 3 steps) has no [12] sum with
#     the pass, one a step (3) with --no-sink-slices;
#   - in f64, --gradcheck passes with the pass (finite differences), and one
#     epoch from the same seed with and without it ends at the same
#     parameters bit for bit (ckpt_diff, tolerance 0).
set -eu
exac=$1 diff=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
sums() {
    "$exac" --emit=ir $1 "$src" |
        awk '/^func / { g = $2 == "exa_loss" } g && / = ADD .* : \[12\] batched/ { n++ } END { print n + 0 }'
}
on=$(sums "") off=$(sums --no-sink-slices)
echo "exa_loss's [12] sums: $on with the pass, $off without"
[ "$on" -eq 0 ] || { echo "FAIL: $on [12] sums left with the pass, expected 0" >&2; exit 1; }
[ "$off" -eq 3 ] || { echo "FAIL: $off [12] sums without the pass, expected 3" >&2; exit 1; }
"$exac" --precision=f64 "$src" -o "$work/on"
"$exac" --precision=f64 --no-sink-slices "$src" -o "$work/off"
"$work/on" --threads 1 --gradcheck > "$work/gradcheck.out"
grep 'max relative error' "$work/gradcheck.out"
grep -q 'max relative error .* (ok)' "$work/gradcheck.out" || { echo "FAIL: gradient check" >&2; exit 1; }
for v in on off; do
    "$work/$v" --quiet --threads 1 --epochs 1 --checkpoint "$work/ckpt_$v" > "$work/$v.out"
done
"$diff" "$work/ckpt_off/checkpoint.exa" "$work/ckpt_on/checkpoint.exa" 0
