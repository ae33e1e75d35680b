#!/bin/sh
# must_differ.sh CKPT_DIFF A B TOL - the negative control's check: succeeds
# only when ckpt_diff read both checkpoints and found them MORE than TOL
# apart (its status 1); equal within TOL (0) or unreadable (2) fail.
"$1" "$2" "$3" "$4"
st=$?
[ "$st" = 1 ] && exit 0
echo "must_differ.sh: ckpt_diff status $st, expected 1 (the parameters must differ)" >&2
exit 1
