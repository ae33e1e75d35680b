#!/bin/sh
# check_ps.sh LOG: RMTR's bound on every line of the JSON log: the largest
# ||P s_H|| / Delta_h of the epoch (ps_ratio) is at most 1, and the epoch
# recursed (recursions > 0: a bound never put to the test proves nothing).
awk '
    function get(line, name,   i, k) {
        k = "\"" name "\":"
        i = index(line, k)
        if (!i) { printf "no %s in line %d\n", name, NR; exit 1 }
        return substr(line, i + length(k)) + 0
    }
    { p = get($0, "ps_ratio"); n = get($0, "recursions")
      if (!(p <= 1) || !(p > 0) || !(n > 0)) { printf "line %d: ps_ratio %.17g recursions %d: FAILED\n", NR, p, n; exit 1 }
      if (p > worst) worst = p }
    END { if (NR == 0) { print "empty log"; exit 1 }
          printf "%d epochs: ||P s_H|| <= Delta_h on every step (largest ratio %.6f)\n", NR, worst }' "$1"
