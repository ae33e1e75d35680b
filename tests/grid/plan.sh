#!/bin/sh
# plan.sh EXAC SRC DIR - the cost model's tables (--grid-plan) of SRC for 1,
# 2 and 4 ranks into DIR/plan.P, for words.sh.  One rank, EXA_GRID_COST
# fixed: the words do not depend on the machine.
set -eu
exac=$1 src=$2 dir=$3
mkdir -p "$dir"
"$exac" "$src" -o "$dir/prog" --precision=f64
for P in 1 2 4; do
    EXA_GRID_COST="1e-6 1e-9 1e9" "$dir/prog" --threads 1 --grid-plan $P >"$dir/plan.$P"
    cat "$dir/plan.$P"
done
