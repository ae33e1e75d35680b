#!/bin/sh
# predict.sh EXAC SRC WORKDIR INPUT [ARGS...]: --predict on the emulated GPU
# writes what --predict on the CPU writes, from the checkpoint of a short CPU
# run: f64 outputs within 1e-10 relative to the largest (the GEMMs sum in
# another order), the same classes.
set -u
exac=$1 src=$2 work=$3 input=$4
shift 4
rm -rf "$work" && mkdir -p "$work" || exit 1
"$exac" "$src" -o "$work/prog" --precision=f64 || { echo "FAIL: exac $src" >&2; exit 1; }
"$work/prog" --quiet --checkpoint "$work/ck" "$@" || { echo "FAIL: training" >&2; exit 1; }
"$work/prog" --device cpu --checkpoint "$work/ck" --predict "$input" --out "$work/cpu.npy" || exit 1
EXA_GPU_EMULATE=1 "$work/prog" --device gpu --checkpoint "$work/ck" --predict "$input" --out "$work/gpu.npy" || exit 1
cmp "$work/cpu.classes.npy" "$work/gpu.classes.npy" || { echo "FAIL: other classes on the GPU" >&2; exit 1; }
# the reals after the .npy header (its length: bytes 8-9, little-endian)
reals() {
    skip=$(od -An -j8 -N2 -tu2 "$1" | tr -d ' ')
    od -An -v -w8 -tf8 -j$((10 + skip)) "$1"
}
reals "$work/cpu.npy" >"$work/cpu.txt"
reals "$work/gpu.npy" >"$work/gpu.txt"
paste "$work/cpu.txt" "$work/gpu.txt" | awk '
    { d = $1 - $2; d = d < 0 ? -d : d; a = $1 < 0 ? -$1 : $1
      if (d > worst) worst = d; if (a > scale) scale = a; n++ }
    END { printf "%d outputs, max |cpu - gpu| %.3g, max |cpu| %.3g\n", n, worst, scale
          if (n < 10 || !(worst <= 1e-10 * scale)) { print "FAIL: the outputs differ"; exit 1 } }' || exit 1
echo "ok: the same predictions on the CPU and the emulated GPU"
