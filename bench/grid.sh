#!/bin/sh
# grid.sh - the Pr x Pc process grid, grid(rows: neurons(), cols: data()):
# measured against predicted step time for every grid at P = 2 (and 4,
# oversubscribed on a 2-core machine) for the wide MLP 784-2048-2048-10
# (bench/models/d_wide.exa, batch 256) and LeNet (examples/fashion_cnn.exa,
# batch 100), with the grid shape: auto picks; then the cost model's choice
# at P = 8 ... 1024 for those and the AlexNet-size fully connected layers
# (bench/models/f_alexnet_fc.exa, batch 2048), with alpha, beta and the
# rate calibrated at P = 2 (EXA_GRID_COST), and the words moved per rank and
# step by pure batch (1 x P), pure model (P x 1) and the best grid, on the
# path that runs (owned rows: the three models train with SGD) and, beside
# it, with replicated parameters (the dW all-gather of L-BFGS runs).
# One BLAS thread per rank; the load (uptime) is printed with the numbers.
#
# Each grid's step is the best (least) of ROUNDS runs, the grids taking
# turns within a round (a load that drifts hits them alike), epoch 2 timed;
# shape: auto runs with the calibration its table printed (EXA_GRID_COST
# from that --grid-plan), so its choice is the table's starred row.
#
# usage: bench/grid.sh [BUILD_DIR] [LIMIT_MLP] [LIMIT_CNN] [ROUNDS]    (build, 4096, 1000, 3)
set -eu
build=${1:-build} lim_mlp=${2:-1024} lim_cnn=${3:-1000}
. "$(dirname "$0")/common.sh"
bench_one_thread
# 16 steps of 256 per epoch by default (4 did not tell P = 2's grids apart)
[ $# -ge 2 ] || lim_mlp=4096
rounds=${4:-3}
"$build/bin/exac" "$root/bench/models/d_wide.exa" -o "$work/wide"
"$build/bin/exac" "$root/examples/fashion_cnn.exa" -o "$work/lenet"
"$build/bin/exac" "$root/bench/models/f_alexnet_fc.exa" -o "$work/alexfc"
echo "load: $(uptime)"
echo
echo "| model | P | grid | predicted ms/step | measured ms/step (best of $rounds) | every round |"
echo "|---|---|---|---|---|---|"
cost=
for m in wide lenet; do
    if [ $m = wide ]; then limit=$lim_mlp batch=256; else limit=$lim_cnn batch=100; fi
    for np in 2 4; do
        over=$([ $np -gt 2 ] && echo ' (oversubscribed)' || echo '')
        if ! $mpirun -np $np "$work/$m" --threads 1 --grid-plan $np </dev/null >"$work/plan.$m.$np" 2>"$work/err"; then
            echo "| $m | $np | not run: $(head -n 1 "$work/err") | | | |"
            continue
        fi
        calib=$(sed -n 's/.*alpha \([^ ]*\) s\/message, beta \([^ ]*\) s\/word, rate \([^ ]*\) flop\/s, conv \([^ ]*\) flop.*/\1 \2 \3 \4/p' \
                "$work/plan.$m.$np")
        [ -z "$cost" ] && cost=$(echo "$calib" | cut -d' ' -f1-3)
        # the rows of the table: "[*] PR x PC msgs words words mflop ms"
        awk '/^ [* ] +[0-9]+ x/ { line = $0; star = substr(line, 2, 1) == "*"; sub(/^ [* ] */, "", line)
                                  split(line, f, " +"); print f[1], f[3], f[8], star }' \
            "$work/plan.$m.$np" >"$work/rows"
        r=1
        while [ $r -le "$rounds" ]; do
            while read -r pr pc pred star; do
                $mpirun -np $np "$work/$m" --threads 1 --quiet --epochs 2 --limit "$limit" --eval-limit 100 \
                    --log "$work/log" --decompose "grid(rows: neurons(), cols: data(), shape: [$pr, $pc])" </dev/null >/dev/null
                tail -n 1 "$work/log" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/' >>"$work/secs.$m.$np.$pr.$pc"
            done <"$work/rows"
            r=$((r + 1))
        done
        while read -r pr pc pred star; do
            sort -g "$work/secs.$m.$np.$pr.$pc" | awk -v m=$m -v np=$np -v over="$over" -v pr=$pr -v pc=$pc -v p=$pred \
                -v steps=$(( (limit + batch - 1) / batch )) '
                { t[NR] = 1000 * $1 / steps; all = all (NR > 1 ? " " : "") sprintf("%.1f", 1000 * $1 / steps) }
                END { printf "| %s | %d%s | %d x %d | %.2f | %.2f | %s |\n", m, np, over, pr, pc, p, t[1], all }'
        done <"$work/rows"
        starred=$(awk '$4 == 1 { print $1 " x " $2 }' "$work/rows")
        auto=$(EXA_GRID_COST="$calib" $mpirun -np $np "$work/$m" --threads 1 --epochs 1 --limit $batch --eval-limit 10 \
               --decompose "grid(rows: neurons(), cols: data(), shape: auto)" </dev/null | sed -n 's/.* on \([0-9]* x [0-9]*\) ranks.*/\1/p')
        echo "| $m | $np | shape: auto chose $auto (the table's cheapest: $starred) | | | |"
    done
done
echo
echo "calibrated at P = 2 (alpha s/message, beta s/word, flop/s): $cost"
echo
echo "| model | batch | P | best grid | predicted ms/step (best / batch / model) | words per rank (batch / model / best) | replicated W: best grid | replicated W: words (model / best) |"
echo "|---|---|---|---|---|---|---|---|"
for m in wide lenet alexfc; do
    for P in 8 16 32 64 128 256 512 1024; do
        EXA_GRID_COST="$cost" "$work/$m" --grid-plan $P </dev/null > "$work/big.$m.$P" || continue
        awk -v m=$m -v P=$P '
            /^grid plan/ { split($0, a, "batch "); split(a[2], b, "[,;]"); B = b[1] }
            /^ [* ] *[0-9]+ x/ {
                star = substr($0, 2, 1) == "*"
                split($0, half, "|")
                left = half[1]; sub(/^ [* ] */, "", left); split(left, f, " +")
                right = half[2]; plus = right ~ /^ *\+/; sub(/^ *\+? */, "", right); split(right, o, " +")
                pr = f[1]; pc = f[3]; w = f[5] + f[6]; t = f[8]
                if (pr == 1) { wb = w; tb = t }
                if (pc == 1) { wm = w; tm = t; wom = o[1] }
                if (star) { best = pr " x " pc; wbest = w; tbest = t }
                if (plus) { obest = pr " x " pc; wobest = o[1] }
            }
            function g(x) { return x == "" ? "-" : sprintf("%.3g", x) }   # P > batch: no pure batch grid
            END { printf "| %s | %s | %d | %s | %s / %s / %s | %s / %s / %s | %s | %s / %s |\n", m, B, P, best, g(tbest),
                         g(tb), g(tm), g(wb), g(wm), g(wbest), obest, g(wom), g(wobest) }' \
            "$work/big.$m.$P"
    done
done
