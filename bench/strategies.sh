#!/bin/sh
# strategies.sh - every scheme of stdlib/strategies.exa on the Allen-Cahn
# PINN (examples/allen_cahn.exa) and the Fashion-MNIST CNN
# (examples/fashion_cnn.exa) at 2 and 4 ranks (4 oversubscribed on a small
# machine), next to the reference in the same run: the train block's
# optimiser on one rank and data() at the same rank count.  Prints one
# markdown table per model: the loss after each epoch (the epoch's mean
# mini-batch loss, before the steps), the work per rank in mini-batch
# gradient evaluations (the log's grad_evals, rank 0) and the wall time, with
# the machine's load (uptime) before and after.
#
# The coarse scheme (two_level_schwarz: a coarse network of the repeat
# block) fits neither: the PINN's loss has d and d2, which the coarse
# network's stage functions do not take, and the CNN has no repeat block.
# It runs on a third model, the peaks ResNet of tests/strategies/
# two_level.exa (a repeat block of 4 steps; 400 samples, batch 100,
# RESNET_EPOCHS epochs: 4, or $5), next to one_level() (the same scheme
# without the coarse level), two_level.exa's multiplicative and linear
# variants, data() and the train block's L-BFGS on one rank.
# The CNN has one stage (no repeat block): the parameter schemes split it by
# layer there (the stdlib text with `by stage` replaced by `by layer`, named
# NAME_l); the PINN splits by stage as the stdlib does.
#
# usage: bench/strategies.sh [BUILD_DIR] [PINN_EPOCHS] [CNN_EPOCHS] [CNN_LIMIT] [RESNET_EPOCHS]
#        (build, 6, 2, 600): sized to stay near a minute per model on a
#        loaded 2-core machine.
set -eu
build=${1:-build} pe=${2:-6} ce=${3:-2} climit=${4:-600}
. "$(dirname "$0")/common.sh"
stdlib="$root/stdlib/strategies.exa"

# the by-layer copies of the parameter schemes, for the one-stage CNN
by_layer() {
    awk 'BEGIN { keep = 0 }
         /^strategy / { buf = ""; keep = 0 }
         { buf = buf $0 "\n" }
         /split +params by stage/ { keep = 1 }
         /^}/ { if (keep) { sub(/^strategy [a-z_]+/, "&_l", buf); gsub(/by stage/, "by layer", buf);
                            printf "%s\n", buf }
                buf = ""; keep = 0 }' "$stdlib"
}

table() { # title
    printf "\n### %s\n\n| scheme | ranks |" "$1"
    e=1
    while [ "$e" -le "$epochs" ]; do printf " epoch %s |" "$e"; e=$((e + 1)); done
    printf " final loss | grad evals / rank | reference at that work | seconds |\n|---|---|"
    e=1
    while [ "$e" -le "$epochs" ]; do printf -- "---|"; e=$((e + 1)); done
    printf -- "---|---|---|---|\n"
}

row() { # name ranks log
    if [ ! -s "$3" ]; then
        printf "| %s | %s | refused or failed: %s |\n" "$1" "$2" "$(head -c 160 "$3.err" | tr '\n|' '  ')"
        return
    fi
    printf "| %s | %s |" "$1" "$2"
    # the first `epochs` epochs (- where the run stopped early: a NaN loss
    # ends it), then the last epoch's loss, the work and the time
    awk -v epochs="$epochs" '
        { split($0, a, "\"loss\":"); split(a[2], b, ","); loss[NR] = b[1]
          split($0, a, "\"grad_evals\":"); split(a[2], b, ","); g = b[1]
          split($0, a, "\"seconds\":"); split(a[2], b, ","); s += b[1] }
        END { for (e = 1; e <= epochs; e++) printf(e <= NR ? " %.4g |" : " - |", loss[e])
              printf " %.4g (epoch %d) | %.1f |", loss[NR], NR, g; print s }' "$3" > "$3.row"
    # the long reference run's loss at the first epoch whose work reaches this
    # run's (per rank): the comparison per unit of work
    g=$(awk -F'|' '{ print $(NF - 1) }' "$3.row" | head -1)
    s=$(awk -F'|' '{ print $NF }' "$3.row" | head -1)
    printf "%s" "$(awk -F'|' '{ NF--; print }' OFS='|' "$3.row" | head -1)|"
    awk -v g="$g" '
        { split($0, a, "\"loss\":"); split(a[2], b, ","); l = b[1]
          split($0, a, "\"grad_evals\":"); split(a[2], b, ",")
          if (!done && b[1] + 0 >= g + 0) { printf " %.4g (epoch %d) |", l, NR; done = 1 } }
        END { if (!done) printf " - |" }' "$long"
    printf " %.2f |\n" "$s"
}

run() { # name ranks exe args...
    name=$1 np=$2 exe=$3
    shift 3
    log="$work/$name.$np.log"
    rm -f "$log"
    if [ "$np" = 1 ]; then
        "$exe" --threads 1 --quiet --log "$log" "$@" >/dev/null 2>"$log.err" || true
    else
        $mpirun -np "$np" "$exe" --threads 1 --quiet --log "$log" "$@" >/dev/null 2>"$log.err" || true
    fi
    row "$name" "$np" "$log"
}

echo "load before: $(uptime)"

# ---- the Allen-Cahn PINN: 500 collocation points, one mini-batch per epoch --
epochs=$pe
pinn="$work/pinn.exa"
sh "$here/variant.sh" "$root/examples/allen_cahn.exa" "lbfgs(history: 20)" > "$pinn"
"$exac" "$pinn" -o "$work/pinn" 2>/dev/null
table "Allen-Cahn PINN (500 points, batch 500, $pe epochs)"
long=/dev/null
run "lbfgs (reference)" 1 "$work/pinn" --epochs "$pe" --limit 500 --batch 500
long=/dev/null
run "lbfgs, ~the schemes' work" 1 "$work/pinn" --epochs $((pe * 8)) --limit 500 --batch 500
long="$work/lbfgs, ~the schemes' work.1.log"
for np in 2 4; do
    run "data()" "$np" "$work/pinn" --epochs "$pe" --limit 500 --batch 500 --decompose "data()"
    for s in sapts apts_weights precond_lbfgs local_sgd local_sgd_periodic ras hybrid gaspin; do
        # SGD at the classifier's default rate (0.05), and at 1e-3, diverges
        # on the PINN's residual (from 138): the PINN runs it at 1e-4
        args="$s()"
        [ "$s" = local_sgd_periodic ] && args="$s(lr: 0.0001)"
        run "$args" "$np" "$work/pinn" --epochs "$pe" --limit 500 --batch 500 --decompose "$args"
    done
done

# ---- the Fashion-MNIST CNN: the first CNN_LIMIT images, batch 100 -------------
epochs=$ce
cnn="$work/cnn.exa"
sh "$here/variant.sh" "$root/examples/fashion_cnn.exa" "sgd(lr: 0.05, momentum: 0.9)" > "$cnn"
by_layer >> "$cnn"
"$exac" "$cnn" -o "$work/cnn" 2>/dev/null
table "Fashion-MNIST CNN (first $climit images, batch 100, $ce epochs)"
long=/dev/null
run "sgd (reference)" 1 "$work/cnn" --epochs "$ce" --limit "$climit" --eval-limit 200
run "sgd, ~the schemes' work" 1 "$work/cnn" --epochs $((ce * 8)) --limit "$climit" --eval-limit 200
long="$work/sgd, ~the schemes' work.1.log"
for np in 2 4; do
    run "data()" "$np" "$work/cnn" --epochs "$ce" --limit "$climit" --eval-limit 200 --decompose "data()"
    for s in sapts local_sgd local_sgd_periodic apts_weights_l precond_lbfgs_l ras_l hybrid_l gaspin_l; do
        run "$s" "$np" "$work/cnn" --epochs "$ce" --limit "$climit" --eval-limit 200 --decompose "$s()"
    done
done

# ---- the peaks ResNet (tests/strategies/two_level.exa): the coarse scheme ---
re=${5:-4}
epochs=$re
"$exac" "$root/tests/strategies/two_level.exa" -o "$work/resnet" 2>/dev/null
table "peaks ResNet (tests/strategies/two_level.exa: 400 samples, batch 100, $re epochs)"
long=/dev/null
run "lbfgs (reference)" 1 "$work/resnet" --epochs "$re" --decompose "data()"
run "lbfgs, ~the schemes' work" 1 "$work/resnet" --epochs $((re * 8)) --decompose "data()"
long="$work/lbfgs, ~the schemes' work.1.log"
for np in 2 4; do
    for s in "data()" "one_level()" "two_level_schwarz()" "two_level_mult()" "two_level_linear()"; do
        run "$s" "$np" "$work/resnet" --epochs "$re" --decompose "$s"
    done
done
echo
echo "load after: $(uptime)"
