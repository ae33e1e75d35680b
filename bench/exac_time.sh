#!/bin/sh
# exac_time.sh - how long exac takes to compile each example (issue 17 goal 6:
# under 0.5 s each), as wall and CPU seconds from `exac --time-passes`, with
# the two passes that take most of it.  CPU time (exac and the linker it
# waits for) is the number to compare on a shared machine: wall time there
# also counts the other processes' turns.  Best of ROUNDS runs (default 3).
#
# usage: bench/exac_time.sh [BUILD_DIR] [ROUNDS]        (build, 3)
set -eu
build=${1:-build} rounds=${2:-3}
. "$(dirname "$0")/common.sh"
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "| example | wall s | cpu s | llvm: optimise cpu | llvm: machine code cpu | link cpu |"
echo "|---|---|---|---|---|---|"
for f in "$root"/examples/*.exa; do
    name=$(basename "$f" .exa)
    : >"$work/runs"
    r=0
    while [ "$r" -lt "$rounds" ]; do
        "$build/bin/exac" --time-passes "$f" -o "$work/$name" 2>"$work/times"
        # one line per run: total wall, total cpu, the three passes' cpu
        awk '/^total/ { w = $2; c = $3 } /^llvm: optimise/ { o = $4 } /^llvm: machine code/ { m = $5 }
             /^link/ { l = $3 } END { print c, w, o, m, l }' "$work/times" >>"$work/runs"
        r=$((r + 1))
    done
    sort -g "$work/runs" | head -n 1 | awk -v n="$name" '{ printf "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", n, $2, $1, $3, $4, $5 }'
done
echo "load: $(uptime | sed 's/.*load average/load average/')"
