#!/bin/sh
# poster_sapts.sh - the data-decomposition experiment of the poster: SAPTS
# against SGD (lr 0.01) on Fashion-MNIST, mini-batch 100 split into one
# micro-batch of 100/P per rank, for P = 1, 2, 4 and 8 (oversubscribed), for
# the 784-128-10 network (examples/fashion_sapts.exa) and the CNN of
# examples/fashion_cnn.exa.  Prints a markdown table of test accuracy per epoch.
#
# usage: bench/poster_sapts.sh [BUILD_DIR] [EPOCHS] [CNN_LIMIT]   (build, 3, 20000)
# The CNN trains on the first CNN_LIMIT training samples to keep the run short;
# every run tests on all 10000 test images.
set -eu
build=${1:-build} epochs=${2:-3} cnn_limit=${3:-20000}
. "$(dirname "$0")/common.sh"
# SGD on fashion_sapts.exa's program (its decompose line dropped): the same
# data as SAPTS, pixels in [0, 1], where fashion_mlp.exa standardises them
sh "$here/variant.sh" "$root/examples/fashion_sapts.exa" "sgd(lr: 0.01)" > "$work/mlp_sgd.exa"
cp "$root/examples/fashion_sapts.exa" "$work/mlp_sapts.exa"
sh "$here/variant.sh" "$root/examples/fashion_cnn.exa" "sgd(lr: 0.01)" > "$work/cnn_sgd.exa"
sh "$here/variant.sh" "$root/examples/fashion_cnn.exa" "trust_region(radius: 0.1)" "sapts(local_steps: 3)" > "$work/cnn_sapts.exa"
for p in mlp_sgd mlp_sapts cnn_sgd cnn_sapts; do
    "$exac" "$work/$p.exa" -o "$work/$p"
done
echo "| model | method | ranks | test accuracy after epoch 1 .. $epochs | seconds |"
echo "|---|---|---|---|---|"
for p in mlp_sgd mlp_sapts cnn_sgd cnn_sapts; do
    limit=""
    case $p in cnn_*) limit="--limit $cnn_limit" ;; esac
    for np in 1 2 4 8; do
        # shellcheck disable=SC2086
        $mpirun -np "$np" "$work/$p" --epochs "$epochs" --quiet --log "$work/$p.$np.log" $limit >/dev/null
        acc=$(awk -F'"accuracy":' '{ split($2, a, ","); printf "%s%.2f", (NR > 1 ? ", " : ""), 100 * a[1] }' "$work/$p.$np.log")
        secs=$(awk -F'"seconds":' '{ split($2, a, ","); s += a[1] } END { printf "%.0f", s }' "$work/$p.$np.log")
        echo "| ${p%_*} | ${p#*_} | $np | $acc | $secs |"
    done
done
