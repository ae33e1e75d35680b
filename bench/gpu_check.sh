#!/bin/bash
# gpu_check.sh - what only a machine with an NVIDIA GPU can check, in one
# run of a few minutes (docs/gpu.md, "On a real GPU"):
#   1. the GPU test label: gpu_vs_eval on the device (every generated kernel
#      and launch table against the reference interpreter), cuda_ptx, and
#      the emulated training tests;
#   2. the examples trained with --device gpu against the CPU, f64, per
#      epoch: fashion_mlp, fashion_cnn (subsets), the Allen-Cahn PINN,
#      peaks_mgrit (short), and data parallelism and SAPTS on 2 ranks (NCCL
#      when installed) when the machine has 2 GPUs;
#   3. samples/s of the throughput workloads a-e (bench/throughput.sh's
#      models, f32) on GPU 0, and PyTorch's on the same GPU when a CUDA
#      build of PyTorch is installed.
#
# usage: bench/gpu_check.sh [BUILD_DIR]   (default build; configure it on the
#        GPU machine so that gpu_vs_eval is registered, or -DEXA_GPU_TESTS=ON)
#
# Not yet run: written and syntax-checked (ctest gpu_check_script_syntax) on
# machines without a GPU.  Tolerance of step 2: 1e-6 relative (cuBLAS sums
# GEMMs in another order than OpenBLAS and the GPU fuses multiply-adds, so
# f64 agrees to rounding per step, not bit for bit over an epoch).
set -euo pipefail
build=${1:-build}
. "$(dirname "$0")/common.sh"
unset EXA_GPU_EMULATE
command -v nvidia-smi >/dev/null && nvidia-smi -L || { echo "gpu_check: no NVIDIA GPU here (nvidia-smi -L)"; exit 1; }
ngpu=$(nvidia-smi -L | grep -c '^GPU')
fail=0

echo "== 1. ctest -L gpu"
ctest --test-dir "$build" -N -R '^gpu_vs_eval$' | grep -q 'Total Tests: 1' ||
    { echo "gpu_vs_eval is not registered: reconfigure $build on this machine"; exit 1; }
timeout 420 ctest --test-dir "$build" -L gpu -j2 --output-on-failure || fail=1

echo "== 2. training on the device against the CPU (f64, relative 1e-6)"
compare() { timeout 120 sh "$root/tests/gpu_train/compare.sh" -e "$exac" -R -t 1e-6 -w "$work/$1" "${@:2}" || fail=1; }
compare mlp -s "$root/examples/fashion_mlp.exa" -- --epochs 1 --limit 10000 --eval-limit 1000
compare cnn -s "$root/examples/fashion_cnn.exa" -- --epochs 1 --limit 2000 --eval-limit 500
compare pinn -s "$root/examples/allen_cahn.exa" -- --epochs 1
compare mgrit -s "$root/examples/peaks_mgrit.exa" -- --epochs 1 --limit 1000
if [ "$ngpu" -ge 2 ]; then
    compare dp2 -s "$root/examples/fashion_mlp.exa" -g 2 -l "$mpirun" -o ', on ' -- --epochs 1 --limit 10000
    # SAPTS on 2 GPUs against SAPTS on 2 CPU ranks: its sums through NCCL
    compare sapts2 -s "$root/examples/fashion_sapts.exa" -r 2 -g 2 -l "$mpirun" \
        -o ', on .*sums by' -- --epochs 1 --limit 2000 --eval-limit 500
else
    echo "(one GPU: data parallelism and SAPTS on 2 GPUs not checked)"
fi

echo "== 3. samples/s on GPU 0, f32 (epoch 2 of each; load: $(uptime | sed 's/.*load/load/'))"
torch=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && torch=1
printf '%-3s %16s %16s\n' model "exa samples/s" "torch samples/s"
while read -r m file extra; do
    "$exac" "$here/models/$file.exa" -o "$work/$m"
    # shellcheck disable=SC2046,SC2086
    timeout 120 "$work/$m" --device gpu --epochs 2 --quiet --log "$work/$m.log" $(echo $extra | tr = ' ') >/dev/null || fail=1
    exa=$(tail -n 1 "$work/$m.log" | sed 's/.*"samples_per_s":\([0-9.e+-]*\).*/\1/')
    ref=-
    [ "$torch" = 1 ] && ref=$(EXA_TORCH_DEVICE=cuda timeout 60 python3 "$here/torch_ref.py" 1 "$m" | awk '{ print $2 }')
    printf '%-3s %16s %16s\n' "$m" "$exa" "$ref"
done <<'MODELS'
a a_mlp --limit=12000
b b_pinn
c c_peaks
d d_wide --limit=5120
e e_lenet --limit=6000
MODELS
[ "$torch" = 1 ] || echo "(no CUDA build of PyTorch: its column is empty)"
[ "$fail" = 0 ] && echo "gpu_check: all passed" || echo "gpu_check: FAILED (see above)"
exit "$fail"
