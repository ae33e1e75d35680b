#!/bin/sh
# hoist_same.sh EXAC CKPT_DIFF SRC WORK - hoisting the input projections
# (compiler/ir/hoist.c) does not change training: SRC compiled in f64 with
# and without --no-hoist, trained one epoch on 64 samples (8 SGD steps from
# the same seed), ends at the same parameters to 1e-12 (ckpt_diff); the
# hoisted executable's IR has the GEMM over all steps (a MATMUL marked
# "hoisted"), the other none; the hoisted one's gradient zero-fills each
# hoisted product at most once (a SLICE_GRAD: exa_k_slice with to_big 1),
# adding or writing the steps' rows into it in place (exa_k_slice_add or,
# where the rows tile it, exa_k_slice_put; compiler/ir/fuse.c), not once per
# step (quadratic in the steps).
set -eu
exac=$1 diff=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$exac" --emit=ir "$src" > "$work/hoisted.ir"
"$exac" --emit=ir --no-hoist "$src" > "$work/plain.ir"
grep -q 'MATMUL .*; hoisted$' "$work/hoisted.ir" || { echo "FAIL: no hoisted product in the IR" >&2; exit 1; }
if grep -q 'hoisted$' "$work/plain.ir"; then echo "FAIL: --no-hoist hoisted" >&2; exit 1; fi
grep 'hoisted$' "$work/hoisted.ir" | head -n 3
products=$(awk '/^func / { g = $2 == "exa_loss_grad" } g && /hoisted$/ { n++ } END { print n + 0 }' "$work/hoisted.ir")
"$exac" --emit=llvm "$src" > "$work/hoisted.ll"
awk '/^define .*@exa_loss_grad[(.]/ { g = 1 } g { print } g && /^}/ { g = 0 }' "$work/hoisted.ll" > "$work/grad.ll"
fills=$(grep -c 'call void @exa_k_slice_f32(.*, i32 1)$' "$work/grad.ll" || true)
adds=$(grep -c 'call void @exa_k_slice_\(add\|put\)_f32(' "$work/grad.ll" || true)
echo "exa_loss_grad: $products hoisted products, $fills zero-filled slice gradients," \
     "$adds in-place slice adds or writes"
if [ "$fills" -gt "$products" ] || [ "$adds" -eq 0 ]; then
    echo "FAIL: the hoisted products' gradients are zero-filled per step" >&2
    exit 1
fi
"$exac" --precision=f64 "$src" -o "$work/hoisted"
"$exac" --precision=f64 --no-hoist "$src" -o "$work/plain"
for v in hoisted plain; do
    "$work/$v" --quiet --threads 1 --epochs 1 --limit 64 --checkpoint "$work/ckpt_$v" > "$work/$v.out"
done
"$diff" "$work/ckpt_plain/checkpoint.exa" "$work/ckpt_hoisted/checkpoint.exa" 1e-12
