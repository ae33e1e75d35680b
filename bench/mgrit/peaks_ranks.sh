#!/bin/sh
# peaks_ranks.sh - examples/peaks_mgrit.exa (6 epochs) serially, by MGRIT at
# 1 and 2 ranks (row blocks by the rule, and EXA_MGRIT_ROWS=0), and given
# OLD_BUILD by that build's MGRIT at 2 ranks, alternated ROUNDS times, each
# `--threads 1` with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1; prints epoch 6's
# seconds (--log) of each run, then --bench-step 5 at 1 and 2 ranks (per
# evaluation, and the `bench: one evaluation` line: where its time goes).
# Prints the load before and after.  2 ranks on a 2-core machine need it
# quiet; on a shared one, `chrt -f 10 bench/mgrit/peaks_ranks.sh ...` (real-time
# priority: the kernel leaves the other jobs 5% of the cores) is what
# docs/results/mgrit_performance.md (update 3) did.
#
# usage: bench/mgrit/peaks_ranks.sh [BUILD_DIR] [OLD_BUILD_DIR] [ROUNDS]   (build; none; 3)
set -eu
build=${1:-build} old=${2:-} rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -x "$build/bin/exac" ] || { echo "peaks_ranks.sh: $build/bin/exac: no such executable" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
sed 's/epochs *= *60;/epochs = 6;/' "$root/examples/peaks_mgrit.exa" > "$work/m.exa"
grep -v decompose "$work/m.exa" > "$work/s.exa"
"$build/bin/exac" "$work/m.exa" -o "$work/m"
"$build/bin/exac" "$work/s.exa" -o "$work/s"
"$build/bin/exac" "$root/examples/peaks_mgrit.exa" -o "$work/b"
[ -z "$old" ] || "$old/bin/exac" "$work/m.exa" -o "$work/m_old"
M="mpirun --allow-run-as-root --oversubscribe"
ep6() { tail -1 "$1" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/'; }
echo "load before: $(uptime)"
set +e
for r in $(seq "$rounds"); do
    "$work/s" --threads 1 --quiet --log "$work/l.json" >/dev/null 2>&1; echo "round $r serial $(ep6 "$work/l.json")"
    $M -np 1 "$work/m" --threads 1 --quiet --log "$work/l.json" >/dev/null 2>&1; echo "round $r mgrit 1 rank $(ep6 "$work/l.json")"
    $M -np 2 "$work/m" --threads 1 --quiet --log "$work/l.json" >/dev/null 2>&1; echo "round $r mgrit 2 ranks $(ep6 "$work/l.json")"
    $M -x EXA_MGRIT_ROWS=0 -np 2 "$work/m" --threads 1 --quiet --log "$work/l.json" >/dev/null 2>&1
    echo "round $r mgrit 2 ranks, no row blocks $(ep6 "$work/l.json")"
    if [ -n "$old" ]; then
        $M -np 2 "$work/m_old" --threads 1 --quiet --log "$work/l.json" >/dev/null 2>&1; echo "round $r old mgrit 2 ranks $(ep6 "$work/l.json")"
    fi
done
for np in 1 2; do
    for rows in "" 0; do
        echo "--bench-step 5, $np rank(s), EXA_MGRIT_ROWS=${rows:-unset}:"
        $M -x EXA_MGRIT_ROWS=$rows -np $np "$work/b" --threads 1 --bench-step 5 2>&1 | grep -E "^bench: (ranks|work|one)"
    done
done
echo "load after: $(uptime)"
