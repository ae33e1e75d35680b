#!/bin/sh
# check_log.sh LOG FIELD [NAME<MAX | NAME>MIN ...]: FIELD never grows from
# one line of the JSON log to the next (pdADMM's Lagrangian: Lemma 1 of the
# paper), and the last line's NAMEs are below MAX / above MIN.  Prints each
# check; fails on the first that does not hold.
log=$1 field=$2
shift 2
awk -v f="$field" -v checks="$*" '
    function get(line, name,   i, k) {
        k = "\"" name "\":"
        i = index(line, k)
        if (!i) { printf "no %s in line %d\n", name, NR; exit 1 }
        return substr(line, i + length(k)) + 0
    }
    { v = get($0, f)
      if (NR > 1 && v > prev) { printf "line %d: %s %.17g > %.17g (line %d)\n", NR, f, v, prev, NR - 1; exit 1 }
      prev = v; last = $0 }
    END {
        printf "%s never grows over %d lines: ok\n", f, NR
        n = split(checks, c, " ")
        for (j = 1; j <= n; j++) {
            if (match(c[j], /[<>]/) == 0) { print "bad check " c[j]; exit 2 }
            name = substr(c[j], 1, RSTART - 1); op = substr(c[j], RSTART, 1); lim = substr(c[j], RSTART + 1) + 0
            x = get(last, name)
            ok = op == "<" ? x < lim : x > lim
            printf "last %s = %.6g %s %g: %s\n", name, x, op, lim, ok ? "ok" : "FAILED"
            if (!ok) exit 1
        }
    }' "$log"
