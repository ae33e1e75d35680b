#!/bin/sh
# admm.sh - pdADMM (decompose = layers(admm(...))) on examples/fashion_admm.exa,
# 784-64-64-64-64-10 relu, f32 data, double ADMM variables, one run that
# measures side by side:
#   A. test accuracy against iterations: pdADMM (full batch, one iteration per
#      epoch) and the same network trained by SGD (lr 0.01, momentum 0.9) and
#      Adam (lr 1e-3), batch 100, per epoch; 2000 training images, 2000 test
#      images, ADMM_BENCH_ITERS (15) iterations/epochs each;
#   B. seconds per ADMM iteration (the updates alone: the log's admm_seconds,
#      mean of iterations 2-4) at 1 and 2 ranks on 3000 images;
#   C. an MPI ping-pong (bench/mgrit/pingpong.c) for latency and bandwidth;
# then bench/admm/model.py fits the performance model (per-layer compute
# from B at 1 rank, messages from C), checks it against B at 2 ranks and
# carries it to 10-100 layers and up to 1024 ranks (docs/results/admm.md).
# One BLAS thread per rank; at most 2 ranks (a 2-core machine, shared: the
# load is printed first).
#
# usage: bench/admm.sh [BUILD_DIR]   (build)
set -eu
build=${1:-build}
. "$(dirname "$0")/common.sh"
bench_one_thread
src=$root/examples/fashion_admm.exa
iters=${ADMM_BENCH_ITERS:-15}
echo "load: $(uptime)"
"$exac" "$src" -o "$work/admm"
# the same network without the decompose line, by SGD and by Adam
sed -e '/decompose *=/d' -e 's/batch *= *60000;/batch = 100; optimizer = sgd(lr: 0.01, momentum: 0.9);/' \
    "$src" > "$work/sgd.exa"
sed -e '/decompose *=/d' -e 's/batch *= *60000;/batch = 100; optimizer = adam(lr: 0.001);/' "$src" > "$work/adam.exa"
"$exac" "$work/sgd.exa" -o "$work/sgd"
"$exac" "$work/adam.exa" -o "$work/adam"
common="--quiet --threads 1 --limit 2000 --eval-limit 2000 --epochs $iters"
for m in admm sgd adam; do
    s=$(date +%s.%N)
    "$work/$m" $common --log "$work/$m.jsonl" > /dev/null
    echo "$m: $(echo "$(date +%s.%N) - $s" | bc) s for $iters epochs"
done
echo
echo "| iteration / epoch | pdADMM test acc | pdADMM train acc | SGD test acc | Adam test acc |"
echo "|---|---|---|---|---|"
acc() { sed -n "${2}p" "$work/$1.jsonl" | sed 's/.*"accuracy":\([^,]*\).*/\1/'; }
tacc() { sed -n "${2}p" "$work/$1.jsonl" | sed 's/.*"train_accuracy":\([^,]*\).*/\1/'; }
for e in $(seq 1 "$iters"); do
    printf '| %d | %.3f | %.3f | %.3f | %.3f |\n' "$e" "$(acc admm "$e")" "$(tacc admm "$e")" "$(acc sgd "$e")" \
        "$(acc adam "$e")"
done
echo
: > "$work/raw"
for np in 1 2; do
    $mpirun -np $np "$work/admm" --quiet --threads 1 --limit 3000 --epochs 4 --log "$work/t$np.jsonl" > /dev/null
    t=$(sed -n '2,4p' "$work/t$np.jsonl" | sed 's/.*"admm_seconds":\([^,}]*\).*/\1/' | awk '{ s += $1 } END { print s / NR }')
    echo "seconds per iteration, $np rank(s), 3000 images: $t"
    echo "admm $np $t" >> "$work/raw"
done
mpicc -O2 -o "$work/pingpong" "$here/mgrit/pingpong.c"
$mpirun -np 2 "$work/pingpong" | tee -a "$work/raw"
echo
python3 "$here/admm/model.py" "$work/raw"
