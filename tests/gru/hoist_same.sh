#!/bin/sh
# hoist_same.sh EXAC CKPT_DIFF SRC WORK - hoisting the input projections
# (compiler/ir/hoist.c) does not change training: SRC compiled in f64 with
# and without --no-hoist, trained one epoch on 64 samples (8 SGD steps from
# the same seed), ends at the same parameters to 1e-12 (ckpt_diff); and the
# hoisted executable's IR has the GEMM over all steps (a MATMUL marked
# "hoisted"), the other none.
set -eu
exac=$1 diff=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$exac" --emit=ir "$src" > "$work/hoisted.ir"
"$exac" --emit=ir --no-hoist "$src" > "$work/plain.ir"
grep -q 'MATMUL .*; hoisted$' "$work/hoisted.ir" || { echo "FAIL: no hoisted product in the IR" >&2; exit 1; }
if grep -q 'hoisted$' "$work/plain.ir"; then echo "FAIL: --no-hoist hoisted" >&2; exit 1; fi
grep 'hoisted$' "$work/hoisted.ir" | head -n 3
"$exac" --precision=f64 "$src" -o "$work/hoisted"
"$exac" --precision=f64 --no-hoist "$src" -o "$work/plain"
for v in hoisted plain; do
    "$work/$v" --quiet --threads 1 --epochs 1 --limit 64 --checkpoint "$work/ckpt_$v" > "$work/$v.out"
done
"$diff" "$work/ckpt_plain/checkpoint.exa" "$work/ckpt_hoisted/checkpoint.exa" 1e-12
