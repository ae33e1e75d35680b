#!/bin/sh
# check_grow.sh LOG K: admm(grow: K) held the inserted layers at W = I,
# b = 0 through iteration K and trained them after it: the log's grow_offset
# (sqrt(||W - I||^2 + ||b||^2) over the inserted layers, one line per
# iteration) is exactly 0 on lines 1..K and positive on every later line,
# and there is at least one later line.  Prints each line's verdict.
log=$1 k=$2
awk -v k="$k" '
    { i = index($0, "\"grow_offset\":")
      if (!i) { printf "no grow_offset in line %d\n", NR; exit 1 }
      v = substr($0, i + 14) + 0
      ok = NR <= k ? v == 0 : v > 0
      printf "iteration %d: grow_offset %.6g (%s): %s\n", NR, v, NR <= k ? "held, must be 0" : "joined, must be > 0",
             ok ? "ok" : "FAILED"
      if (!ok) exit 1 }
    END { if (NR <= k) { printf "only %d lines, growth after %d never seen\n", NR, k; exit 1 } }' "$log"
