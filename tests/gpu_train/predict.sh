#!/bin/sh
# predict.sh EXAC SRC WORKDIR INPUT [ARGS...]: --predict on the emulated GPU
# writes the bytes --predict on the CPU writes (f32: one rounding per value,
# the same operations), from the checkpoint of a short CPU run.
set -u
exac=$1 src=$2 work=$3 input=$4
shift 4
rm -rf "$work" && mkdir -p "$work" || exit 1
"$exac" "$src" -o "$work/prog" || { echo "FAIL: exac $src" >&2; exit 1; }
"$work/prog" --quiet --checkpoint "$work/ck" "$@" || { echo "FAIL: training" >&2; exit 1; }
"$work/prog" --device cpu --checkpoint "$work/ck" --predict "$input" --out "$work/cpu.npy" || exit 1
EXA_GPU_EMULATE=1 "$work/prog" --device gpu --checkpoint "$work/ck" --predict "$input" --out "$work/gpu.npy" || exit 1
for f in npy classes.npy; do
    cmp "$work/cpu.$f" "$work/gpu.$f" || { echo "FAIL: --predict's $f differs on the GPU" >&2; exit 1; }
done
echo "ok: the same predictions on the CPU and the emulated GPU"
