#!/bin/sh
# multilevel.sh - multilevel training against single-level optimisers, side
# by side in one run (all see the same load; it is printed first):
#   RMTR     multilevel(rmtr(levels: 3, pre: 2, post: 2, coarse_steps: 4, memory: 5))
#   MG/OPT   multilevel(mgopt(levels: 3, pre: 2, post: 2, coarse_steps: 4)), L-BFGS smoothing
#   TR       trust_region(memory: 5, steps: 5, RMTR's radius rules), one level
#   L-BFGS   lbfgs(history: 10, steps: 5)
#   Adam     adam(lr: 0.01, steps: 5)
# on the peaks ODE network of 32 and of 128 steps (bench/multilevel/
# peaks.exa, 1000 samples) and the Fashion-MNIST ODE network of
# examples/fashion_odenet_mgrit.exa (16 steps of width 32; 2000 images),
# full batch, f64, one rank, one BLAS thread, EPOCHS (30) epochs each: about
# 5 fine-level gradient evaluations per epoch for every method.  For each
# it prints the fine-level gradient evaluations (the log's grad_evals: the
# whole network's gradient, as the serial code computes it; RMTR's and
# MG/OPT's coarse evaluations are counted apart, coarse_evals, and cost
# 1/2 and 1/4 of a fine one here: the last column, eval_cost, weighs a
# level-j evaluation by 1/2^j) and the seconds until the training loss
# first reaches the problem's target, and the last loss.  A markdown table
# on stdout (docs/results/multilevel.md).
#
# usage: bench/multilevel.sh [BUILD_DIR]   (build)
set -eu
build=${1:-build}
. "$(dirname "$0")/common.sh"
bench_one_thread
epochs=${EPOCHS:-30}
echo "load: $(uptime)"
echo
tr_rules="radius: 1, min_radius: 0.001, max_radius: 10, accept: 0.05, expand: 2.5, shrink: 0.25, memory: 5"
methods=${METHODS:-"rmtr mgopt tr lbfgs adam"}
spec() { # method -> optimizer|decompose for variant.sh
    case $1 in
    rmtr) echo "lbfgs()|multilevel(rmtr(levels: 3, pre: 2, post: 2, coarse_steps: 4, memory: 5))" ;;
    mgopt) echo "lbfgs(history: 10)|multilevel(mgopt(levels: 3, pre: 2, post: 2, coarse_steps: 4))" ;;
    tr) echo "trust_region($tr_rules, steps: 5)|" ;;
    lbfgs) echo "lbfgs(history: 10, steps: 5)|" ;;
    adam) echo "adam(lr: 0.01, steps: 5)|" ;;
    esac
}
# first epoch whose loss <= target: "grad_evals seconds_so_far", or "- -"
reach() {
    awk -v t="$2" '
        function get(line, name,   i, k) { k = "\"" name "\":"; i = index(line, k); return i ? substr(line, i + length(k)) + 0 : -1 }
        { s += get($0, "seconds"); if (!done && get($0, "loss") <= t) { printf "%d %.2f", get($0, "grad_evals"), s; done = 1 } }
        END { if (!done) printf "- -" }' "$1"
}
last() { tail -1 "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
coarse() { tail -1 "$1" | sed -n 's/.*"coarse_evals":\([0-9.e+]*\).*/\1/p'; }
cost() { tail -1 "$1" | sed -n 's/.*"eval_cost":\([0-9.e+]*\).*/\1/p'; }
echo "| problem | target loss | method | fine grad evals to target | seconds to target | loss after $epochs epochs | fine / coarse evals in all | cost in fine evals |"
echo "|---|---|---|---|---|---|---|---|"
run_problem() { # name src target extra-flags
    name=$1 src=$2 target=$3
    shift 3
    for m in $methods; do
        s=$(spec $m)
        opt=${s%%|*} dec=${s#*|}
        sh "$here/variant.sh" "$src" "$opt" "$dec" > "$work/$name-$m.exa"
        if [ $m = rmtr ]; then sed -i '/optimizer *=/d' "$work/$name-$m.exa"; fi
        "$exac" "$work/$name-$m.exa" -o "$work/$name-$m" --precision=f64 >/dev/null
        "$work/$name-$m" --quiet --threads 1 --epochs "$epochs" --log "$work/$name-$m.jsonl" "$@" >/dev/null
        set -- "$@"
        r=$(reach "$work/$name-$m.jsonl" "$target")
        total=$(tail -1 "$work/$name-$m.jsonl" | sed 's/.*"grad_evals":\([0-9]*\).*/\1/')
        c=$(coarse "$work/$name-$m.jsonl")
        k=$(cost "$work/$name-$m.jsonl")
        printf "| %s | %s | %s | %s | %s | %.4f | %s / %s | %s |\n" "$name" "$target" "$m" "${r% *}" "${r#* }" \
            "$(last "$work/$name-$m.jsonl")" "$total" "${c:--}" "${k:-$total}"
    done
}
sed 's/STEPS/32/g' "$here/multilevel/peaks.exa" > "$work/peaks32.exa"
sed 's/STEPS/128/g' "$here/multilevel/peaks.exa" > "$work/peaks128.exa"
run_problem peaks32 "$work/peaks32.exa" "${PEAKS_TARGET:-0.45}"
run_problem peaks128 "$work/peaks128.exa" "${PEAKS_TARGET:-0.45}"
sed -e 's/epochs *= *5;/epochs = 30;/' -e 's/batch *= *100;/batch = 2000;/' "$here/../examples/fashion_odenet_mgrit.exa" \
    > "$work/fashion.exa"
run_problem fashion_ode "$work/fashion.exa" "${FASHION_TARGET:-0.8}" --limit 2000 --eval-limit 1000
echo
echo "load after: $(uptime)"
