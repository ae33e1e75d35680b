#!/bin/sh
# pretranspose_same.sh EXAC CKPT_DIFF SRC WORK - storing a weight transposed
# once (compiler/ir/pretranspose.c) changes the GEMMs' forms, not training:
#   - the IR of loss_grad has the stored transposes, --no-pretranspose none;
#   - the generated loss_grad's recurrent products (m = the batch, n = k =
#     16: forward W h_t and reverse W^T dy) read op(B) plain (tb 0) with the
#     pass, while without it the forward ones read it transposed (tb 1): the
#     reverse pass reintroduces no transposed read;
#   - the weight gradients summed over the steps are GEMMs into one buffer
#     (fuse.c's OUTER_ADD, beta 1): 12 of loss_grad's GEMMs, the second and
#     third terms of each of the six GRU weights' sums (the 19 OUTERs of its
#     IR less the first term of each, and the output layer's single one);
#   - in f64, --gradcheck passes (finite differences, exa_case's 1e-6), and
#     8 SGD steps from the same seed with and without the pass end at the
#     same parameters to 1e-12 (ckpt_diff).
set -eu
exac=$1 diff=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$exac" --emit=ir "$src" > "$work/on.ir"
"$exac" --emit=ir --no-pretranspose "$src" > "$work/off.ir"
stored=$(awk '/^func / { g = $2 == "exa_loss_grad" } g && /; pretransposed$/ { n++ } END { print n + 0 }' "$work/on.ir")
[ "$stored" -eq 3 ] || { echo "FAIL: $stored stored transposes in exa_loss_grad, expected 3" >&2; exit 1; }
if grep -q 'pretransposed' "$work/off.ir"; then echo "FAIL: --no-pretranspose stored a transpose" >&2; exit 1; fi
# exa_k_gemm_f32(count, ta, tb, m, n, k, ...) of loss_grad with m the batch, n = k = 16: "ta tb" a line
forms() {
    "$exac" --emit=llvm $1 "$src" |
        awk '/^define .*@exa_loss_grad[(.]/ { g = 1 } g && /@exa_k_gemm_f32\(/ { print } g && /^}/ { g = 0 }' |
        sed -n 's/.*@exa_k_gemm_f32(i64 [^,]*, i32 \([01]\), i32 \([01]\), i64 %batch, i64 16, i64 16,.*/\1 \2/p' |
        sort | uniq -c | tr -s ' ' | tr '\n' ';'
}
on=$(forms "") off=$(forms --no-pretranspose)
acc=$("$exac" --emit=llvm "$src" |
      awk '/^define .*@exa_loss_grad[(.]/ { g = 1 } g && /@exa_k_gemm_f32\(/ { print } g && /^}/ { g = 0 }' |
      grep -c 'float 1.000000e+00, ' || true)
echo "loss_grad's GEMMs adding into their result (beta 1): $acc"
[ "$acc" -eq 12 ] || { echo "FAIL: $acc accumulating GEMMs, expected 12" >&2; exit 1; }
echo "loss_grad's [batch, 16] x [16, 16] GEMMs (count ta tb): with the pass:$on without:$off"
case "$on" in *" 0 1;"*) echo "FAIL: a recurrent product reads op(B) transposed" >&2; exit 1 ;; esac
case "$off" in *" 0 1;"*) ;; *) echo "FAIL: without the pass no product reads op(B) transposed" >&2; exit 1 ;; esac
"$exac" --precision=f64 "$src" -o "$work/on"
"$exac" --precision=f64 --no-pretranspose "$src" -o "$work/off"
"$work/on" --threads 1 --gradcheck --limit 64 > "$work/gradcheck.out"
grep 'max relative error' "$work/gradcheck.out"
grep -q 'max relative error .* (ok)' "$work/gradcheck.out" || { echo "FAIL: gradient check" >&2; exit 1; }
for v in on off; do
    "$work/$v" --quiet --threads 1 --epochs 1 --limit 64 --checkpoint "$work/ckpt_$v" > "$work/$v.out"
done
"$diff" "$work/ckpt_off/checkpoint.exa" "$work/ckpt_on/checkpoint.exa" 1e-12
