#!/bin/sh
# parallel_efficiency.sh - data-parallel and SAPTS throughput at 1 and 2 ranks
# on the 784-128-10 network and the CNN (Fashion-MNIST), with the share of a
# step spent waiting in MPI collectives, and the speedup at 2 ranks.
# One BLAS thread per rank (OMP/OPENBLAS_NUM_THREADS=1, --threads 1); this
# script unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for its own commands.
#
# usage: bench/parallel_efficiency.sh [BUILD_DIR] [LIMIT]     (build, 12000)
set -eu
build=${1:-build} limit=${2:-12000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mpirun="mpirun --oversubscribe"
[ "$(id -u)" = 0 ] && mpirun="$mpirun --allow-run-as-root"
sh "$here/variant.sh" "$root/examples/fashion_mlp.exa" "sgd(lr: 0.01)" "data()" > "$work/mlp_data.exa"
cp "$root/examples/fashion_sapts.exa" "$work/mlp_sapts.exa"
sh "$here/variant.sh" "$root/examples/fashion_cnn.exa" "sgd(lr: 0.01)" "data()" > "$work/cnn_data.exa"
sh "$here/variant.sh" "$root/examples/fashion_cnn.exa" "trust_region(radius: 0.1)" "sapts(local_steps: 3)" > "$work/cnn_sapts.exa"
echo "| model | strategy | ranks | samples/s | waiting in MPI | speedup |"
echo "|---|---|---|---|---|---|"
for p in mlp_data mlp_sapts cnn_data cnn_sapts; do
    "$build/bin/exac" "$work/$p.exa" -o "$work/$p"
    one=0
    for np in 1 2; do
        $mpirun -np "$np" "$work/$p" --epochs 2 --limit "$limit" --threads 1 --quiet --log "$work/$p.$np.log" >/dev/null
        # epoch 2 only: after warm-up; comm_seconds is cumulative
        line=$(tail -n 1 "$work/$p.$np.log")
        prev=$(head -n 1 "$work/$p.$np.log")
        sps=$(echo "$line" | sed 's/.*"samples_per_s":\([0-9.e+-]*\).*/\1/')
        secs=$(echo "$line" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/')
        c2=$(echo "$line" | sed 's/.*"comm_seconds":\([0-9.e+-]*\).*/\1/')
        c1=$(echo "$prev" | sed 's/.*"comm_seconds":\([0-9.e+-]*\).*/\1/')
        [ "$np" = 1 ] && one=$sps
        awk -v p="$p" -v np="$np" -v s="$sps" -v one="$one" -v c="$c2" -v c1="$c1" -v t="$secs" 'BEGIN {
            split(p, a, "_"); printf "| %s | %s | %d | %.0f | %.1f%% | %.2fx |\n", a[1], a[2], np, s, 100 * (c - c1) / t, s / one }'
    done
done
