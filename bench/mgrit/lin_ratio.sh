#!/bin/sh
# lin_ratio.sh - MGRIT's overhead at 1 rank with and without the linearisation
# cache (mgrit(cache: ...), docs/mgrit.md): --bench-step's CPU-time ratio
#     MGRIT / ((forward + adjoint + vjp step calls) / 2 x serial loss_grad / N)
# and MGRIT's CPU seconds per evaluation, for bench/mgrit_scaling.sh's ODE nets
# N = 128, w = 8 and 32 (batch 64, cfactor 4, 2 iterations) and
# examples/peaks_mgrit.exa (batch 5000, cfactor 2, 3 iterations).  Each network
# is compiled as `new` (BUILD's exac, cache on: the default), `off` (the same
# with cache: 0) and, given OLD_BUILD, `old` (that exac, e.g. a build of main);
# the variants run one after another, ROUNDS times (alternating, so all see
# the same load), each `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 X --threads 1
# --bench-step 5`; the table gives MGRIT's least CPU time over the rounds and
# its ratio to the work at the least serial CPU time of all runs of the
# network.  Prints the load (uptime) before and after.
#
# usage: bench/mgrit/lin_ratio.sh [BUILD_DIR] [OLD_BUILD_DIR] [ROUNDS]   (build; none; 3)
set -eu
build=${1:-build} old=${2:-} rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -x "$build/bin/exac" ] || { echo "lin_ratio.sh: $build/bin/exac: no such executable" >&2; exit 2; }
[ -z "$old" ] || [ -x "$old/bin/exac" ] || { echo "lin_ratio.sh: $old/bin/exac: no such executable" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
settings="levels: 10, cfactor: 4, relax: FCF, iters: 2"
nets=""
for w in 8 32; do
    sed -e "s/@N@/128/g" -e "s/@W@/$w/g" -e "s/@B@/64/g" -e "s/@MGRIT@/$settings/" \
        "$here/odenet.exa.in" > "$work/ode128w$w.exa"
    nets="$nets ode128w$w"
done
cp "$root/examples/peaks_mgrit.exa" "$work/peaks.exa"
nets="$nets peaks"
variants="new off"
[ -n "$old" ] && variants="old $variants"
for n in $nets; do
    sed 's/mgrit(/mgrit(cache: 0, /' "$work/$n.exa" > "$work/$n.off.exa"
    "$build/bin/exac" "$work/$n.exa" -o "$work/$n.new"
    "$build/bin/exac" "$work/$n.off.exa" -o "$work/$n.off"
    [ -z "$old" ] || "$old/bin/exac" "$work/$n.exa" -o "$work/$n.old"
done
echo "load before: $(uptime)"
for r in $(seq "$rounds"); do
    for n in $nets; do
        for v in $variants; do
            "$work/$n.$v" --threads 1 --bench-step 5 > "$work/$n.$v.$r.out"
        done
    done
done
echo "load after: $(uptime)"
echo "| network | variant | work (serial steps per layer) | mgrit cpu s | ratio (cpu) |"
echo "|---|---|---|---|---|"
for n in $nets; do
    # the serial loss_grad is the same code in every variant: its least CPU
    # time over all of them is the reference
    s=$(cat "$work/$n".*.out | awk '/^bench: cpu/ { for (i = 1; i <= NF; i++) if ($i == "serial") print $(i + 1) }' \
        | sort -g | head -1)
    for v in $variants; do
        cat "$work/$n.$v".*.out | awk -v n="$n" -v v="$v" -v s="$s" '
            /^bench: work:/ { match($0, /= [0-9.]+ serial/); work = substr($0, RSTART + 2, RLENGTH - 9) }
            /^bench: cpu/ {
                for (i = 1; i <= NF; i++)
                    if ($i == "mgrit" && $(i + 1) != "/" && (m == "" || $(i + 1) + 0 < m + 0)) m = $(i + 1)
            }
            END { printf "| %s | %s | %s | %.4e | %.3f |\n", n, v, work, m, m / (work * s) }'
    done
    echo "| $n | serial loss_grad | | $s | |"
done
