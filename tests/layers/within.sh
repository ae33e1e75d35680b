#!/bin/sh
# within.sh REFERENCE_LOG LOG POINTS - the validation accuracy of the last
# line of LOG is within POINTS (a fraction: 0.02 = 2 points) of the last line
# of REFERENCE_LOG (JSON lines written by --log); prints both.
set -u
ref=$(tail -n 1 "$1" | sed -n 's/.*"accuracy":\([-+0-9.eE]*\).*/\1/p')
got=$(tail -n 1 "$2" | sed -n 's/.*"accuracy":\([-+0-9.eE]*\).*/\1/p')
if [ -z "$ref" ] || [ -z "$got" ]; then
    echo "within.sh: no accuracy in $1 or $2" >&2
    exit 1
fi
awk -v a="$got" -v b="$ref" -v tol="$3" 'BEGIN {
    d = a - b; if (d < 0) d = -d
    printf "accuracy %.4f, serial %.4f, |difference| %.4f, allowed %.4f: %s\n", a, b, d, tol, d <= tol ? "ok" : "FAILED"
    exit d <= tol ? 0 : 1
}'
