#!/bin/sh
# gru_mgrit.sh - time-parallel GRU training (issue 16): MGRIT over the steps of
# `for t in .. { h = gru_implicit(h, x[t]); }`.  Three parts, printed as the
# markdown tables of docs/results/gru_mgrit.md:
#
# 1. MGRIT iterations to a fixed tolerance (1e-8, absolute, FCF) for sequence
#    lengths 128, 512, 2048, 4096: bench/gru/gru_mgrit_iters.c, the implicit
#    GRU step in C (hidden 16, batch 8, one input feature) on libexa's MGRIT,
#    at 1 rank (the iterates do not depend on the ranks; checked at 2 for
#    128).  exac unrolls a for loop, and a 512-step GRU takes it 100 s to
#    compile, so the long sequences are not exa programs here.
# 2. Seconds per loss+gradient evaluation (--bench-step 3: the minimum of 3
#    after one untimed) of exa executables, serial loss_grad against MGRIT at
#    1 and 2 ranks: examples/seq_gru_mgrit.exa's model (Fashion-MNIST rows,
#    28 steps, hidden 32, batch 100) and a generated sequence of 128 steps
#    (bench/gru/seq.py, hidden 32, batch 64), both with the example's MGRIT
#    settings (2 levels, cfactor 4, FCF, 2 iterations); the time per epoch of
#    60000 samples follows (600 evaluations of batch 100).
# 3. The ping-pong between 2 ranks (bench/mgrit/pingpong.c) and the
#    performance model of docs/results/mgrit_performance.md carried to 1024
#    ranks (bench/gru/model.py, fitted to part 2's 128-step run).
#
# One thread per rank (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, --threads 1),
# f32 in part 2.  The machine is shared: `uptime` is printed first; compare
# numbers of one run only.  GRU_BENCH_STEPS="128 512" runs a subset of part 1.
#
# usage: bench/gru_mgrit.sh [BUILD_DIR] [RAW_OUTPUT_FILE]   (build; none)
set -eu
build=${1:-build} raw=${2:-}
. "$(dirname "$0")/common.sh"
bench_one_thread
uptime

echo
echo "### 1. MGRIT iterations to 1e-8 (implicit GRU, hidden 16, batch 8)"
echo
echo "| steps | 2 levels, cfactor 2 | 2 levels, cfactor 4 | up to 10 levels, cfactor 4 |"
echo "|---|---|---|---|"
for T in ${GRU_BENCH_STEPS:-128 512 2048 4096}; do
    row="| $T |"
    for cfg in "2 2" "4 2" "4 10"; do
        set -- $cfg
        out=$("$build/bin/gru_mgrit_iters" "$T" 16 8 "$1" "$2")
        row="$row $(echo "$out" | sed 's/.*levels \([0-9]*\) .*iterations \([0-9]*\) .*factor \([0-9.na]*\)/\2 (\1 levels, factor \3)/') |"
    done
    echo "$row"
done
a=$("$build/bin/gru_mgrit_iters" 128 16 8 4 10 | sed 's/.*iterations \([0-9]*\).*/\1/')
b=$($mpirun -np 2 "$build/bin/gru_mgrit_iters" 128 16 8 4 10 | sed 's/.*iterations \([0-9]*\).*/\1/')
echo
echo "(128 steps, up to 10 levels: $a iterations at 1 rank, $b at 2)"

echo
echo "### 2. Seconds per loss+gradient evaluation (f32, --bench-step 3)"
echo
python3 "$here/gru/seq.py" 128 64 "$work"
sed -e "s/@T@/128/g; s/@W@/32/g; s/@B@/64/g; s#@DIR@#$work#g" \
    -e "s/@MGRIT@/levels: 2, cfactor: 4, relax: FCF, iters: 2/" "$here/gru/seq_gru.exa.in" > "$work/seq128.exa"
"$build/bin/exac" "$here/../examples/seq_gru_mgrit.exa" -o "$work/fashion28"
"$build/bin/exac" "$work/seq128.exa" -o "$work/seq128"
: > "$work/raw"
echo "| model | steps | batch | serial s | mgrit 1 rank s | mgrit 2 ranks s | 2 ranks vs serial | iterations fwd/adj | step calls per level fwd; adj | epoch of 60000, serial / 2 ranks |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for v in fashion28 seq128; do
    for np in 1 2; do
        $mpirun -np "$np" "$work/$v" --threads 1 --bench-step 3 > "$work/$v.$np.out"
        cat "$work/$v.$np.out" >> "$work/raw"
    done
    awk -v name="$v" '
        /^bench: ranks/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "ranks") np = $(i + 1)
                if ($i == "batch") b = $(i + 1)
                if ($i == "steps") n = $(i + 1)
                if ($i == "serial") ser[np] = $(i + 1)
                if ($i == "mgrit") mg[np] = $(i + 1)
            }
            match($0, /iterations forward [0-9]+ adjoint [0-9]+/); it = substr($0, RSTART + 19, RLENGTH - 19); sub(/ adjoint /, "/", it)
        }
        /^bench: step calls/ { c = $0; sub(/.*forward: /, "", c); sub(/; adjoint:/, ";", c) }
        END {
            s = ser[1] < ser[2] ? ser[1] : ser[2]
            printf "| %s | %d | %d | %.3e | %.3e | %.3e | %.2f | %s | %s | %.0f s / %.0f s |\n", name, n, b, s, mg[1], mg[2], s / mg[2], it, c, s * 60000 / b, mg[2] * 60000 / b
        }' "$work/$v.1.out" "$work/$v.2.out"
done

echo
echo "### 3. Ping-pong and the model to 1024 ranks"
echo
mpicc -O2 -o "$work/pingpong" "$here/mgrit/pingpong.c"
$mpirun -np 2 "$work/pingpong" >> "$work/raw"
python3 "$here/gru/model.py" "$work/raw"
[ -n "$raw" ] && cp "$work/raw" "$raw"
exit 0
