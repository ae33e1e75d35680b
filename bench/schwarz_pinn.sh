#!/bin/sh
# schwarz_pinn.sh - the Allen-Cahn PINN of examples/allen_cahn.exa trained by
# parameter decomposition (nonlinearly preconditioned L-BFGS, additive
# Schwarz in the weights) with 2, 3 and 6 subdomains (ranks) and 5 or 10 local
# L-BFGS steps, against plain L-BFGS and Adam.  Prints a markdown table of the
# residual loss after selected epochs.
#
# usage: bench/schwarz_pinn.sh [BUILD_DIR] [EPOCHS]     (build, 50)
set -eu
build=${1:-build} epochs=${2:-50}
. "$(dirname "$0")/common.sh"
src="$root/examples/allen_cahn.exa"
sh "$here/variant.sh" "$src" "lbfgs(history: 20)" > "$work/lbfgs.exa"
sh "$here/variant.sh" "$src" "adam(lr: 0.001)" > "$work/adam.exa"
for k in 5 10; do
    sh "$here/variant.sh" "$src" "lbfgs(history: 20)" \
        "params(by: stage, groups: ranks, local: lbfgs(steps: $k), combine: additive, global: lbfgs(history: 5))" > "$work/schwarz$k.exa"
done
for p in lbfgs adam schwarz5 schwarz10; do
    "$exac" "$work/$p.exa" -o "$work/$p"
done
marks="1 5 10 20 $epochs"
printf "| method | ranks | local steps |"
for e in $marks; do printf " epoch %s |" "$e"; done
printf " seconds |\n|---|---|---|"
for e in $marks; do printf -- "---|"; done
printf -- "---|\n"
row() { # name ranks steps log
    printf "| %s | %s | %s |" "$1" "$2" "$3"
    for e in $marks; do
        awk -v e="$e" -F'"loss":' '{ split($2, a, ","); if (NR == e) printf " %.3e |", a[1] }' "$4"
    done
    awk -F'"seconds":' '{ split($2, a, ","); s += a[1] } END { printf " %.1f |\n", s }' "$4"
}
for p in lbfgs adam; do
    "$work/$p" --epochs "$epochs" --quiet --log "$work/$p.log" >/dev/null
    row "$p" 1 - "$work/$p.log"
done
for k in 5 10; do
    for np in 2 3 6; do
        $mpirun -np "$np" "$work/schwarz$k" --epochs "$epochs" --quiet --log "$work/s$k.$np.log" >/dev/null
        row "params + L-BFGS" "$np" "$k" "$work/s$k.$np.log"
    done
done
