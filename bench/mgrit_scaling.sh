#!/bin/sh
# mgrit_scaling.sh - time of one forward + backward (loss and gradient of one
# mini-batch of 64 peaks samples) with decompose = layers(mgrit(...)) at 1 and
# 2 ranks against the serial loss_grad, for ODE nets
#     x -> tanh(dense(x, w)), repeat N { u = u + (1/N) tanh(dense(u, w)) }, -> dense 5
# with N = 128, 512, 2048 steps and widths w = 8, 32, 128, all generated from
# the one template bench/mgrit/odenet.exa.in.  MGRIT: cfactor 4, up to 10
# levels, FCF, a fixed 2 iterations per solve (the layer-parallel paper's
# setting; skip on), f32.  The executable's --bench-step R times R
# evaluations after one untimed one and prints the minimum (the machine is
# shared), plus the MGRIT iteration counts, last residuals, step calls per
# level and the cost of one fine step.  Finally an MPI ping-pong between 2
# ranks (bench/mgrit/pingpong.c) gives latency and bandwidth for the model in
# docs/results/mgrit_performance.md.
#
# Threads are pinned: one BLAS/OpenMP thread per rank (OMP_NUM_THREADS=1,
# OPENBLAS_NUM_THREADS=1, --threads 1), and OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset (bench/common.sh) so that OpenBLAS picks its
# kernels itself.  At most 2 ranks (a 2-core machine).
#
# MGRIT_BENCH_STEPS="128 512" runs a subset.  bench/mgrit/model.py RAW fits
# the model to the raw output.
#
# usage: bench/mgrit_scaling.sh [BUILD_DIR] [RAW_OUTPUT_FILE]   (build; none)
set -eu
build=${1:-build} raw=${2:-}
. "$(dirname "$0")/common.sh"
bench_one_thread
settings="levels: 10, cfactor: 4, relax: FCF, iters: 2"
batch=64
: > "$work/raw"
echo "| steps | width | serial s | mgrit 1 rank s | mgrit 2 ranks s | speedup 2 vs serial | 2 vs 1 rank | iterations fwd/adj | last residual fwd / adj | levels | fine step s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for n in ${MGRIT_BENCH_STEPS:-128 512 2048}; do
    reps=5
    [ "$n" = 2048 ] && reps=3
    for w in 8 32 128; do
        v=$work/ode_${n}_$w
        sed -e "s/@N@/$n/g" -e "s/@W@/$w/g" -e "s/@B@/$batch/g" -e "s/@MGRIT@/$settings/" \
            "$here/mgrit/odenet.exa.in" > "$v.exa"
        "$build/bin/exac" "$v.exa" -o "$v"
        for np in 1 2; do
            $mpirun -np "$np" "$v" --threads 1 --bench-step "$reps" > "$v.$np.out"
            cat "$v.$np.out" >> "$work/raw"
        done
        awk -v n="$n" -v w="$w" '
            /^bench: ranks/ {
                for (i = 1; i <= NF; i++) {
                    if ($i == "ranks") np = $(i + 1)
                    if ($i == "serial") ser[np] = $(i + 1)
                    if ($i == "mgrit") mg[np] = $(i + 1)
                }
                match($0, /iterations forward [0-9]+ adjoint [0-9]+/); it = substr($0, RSTART + 19, RLENGTH - 19); sub(/ adjoint /, "/", it)
                match($0, /residual forward [^ ]+ adjoint [^;]+/); rs = substr($0, RSTART + 17, RLENGTH - 17); sub(/ adjoint /, " / ", rs)
                match($0, /levels [0-9]+/); lv = substr($0, RSTART + 7, RLENGTH - 7)
                match($0, /fine step [^ ]+/); fs = substr($0, RSTART + 10, RLENGTH - 10)
            }
            END {
                s = ser[1] < ser[2] ? ser[1] : ser[2]
                printf "| %d | %d | %.3e | %.3e | %.3e | %.3f | %.2f | %s | %s | %s | %s |\n", n, w, s, mg[1], mg[2], s / mg[2], mg[1] / mg[2], it, rs, lv, fs
            }' "$v.1.out" "$v.2.out"
    done
done
mpicc -O2 -o "$work/pingpong" "$here/mgrit/pingpong.c"
$mpirun -np 2 "$work/pingpong" | tee -a "$work/raw"
[ -n "$raw" ] && cp "$work/raw" "$raw"
exit 0
