#!/bin/sh
# check_last.sh LOG CHECK...: each CHECK, NAME>=NUMBER or NAME<=NUMBER, holds
# on the last line of the JSON log (a missing NAME fails).  Prints each.
log=$1
shift
awk -v checks="$*" '
    function get(line, name,   i, k) {
        k = "\"" name "\":"
        i = index(line, k)
        if (!i) { printf "no %s in the last line\n", name; exit 1 }
        return substr(line, i + length(k)) + 0
    }
    { last = $0 }
    END {
        if (NR == 0) { print "empty log"; exit 1 }
        n = split(checks, c, " ")
        for (j = 1; j <= n; j++) {
            if (match(c[j], /[<>]=/) == 0) { print "bad check " c[j]; exit 2 }
            name = substr(c[j], 1, RSTART - 1); op = substr(c[j], RSTART, 2); lim = substr(c[j], RSTART + 2) + 0
            x = get(last, name)
            ok = op == "<=" ? x <= lim : x >= lim
            printf "last %s = %.6g %s %g: %s\n", name, x, op, lim, ok ? "ok" : "FAILED"
            if (!ok) exit 1
        }
    }' "$log"
