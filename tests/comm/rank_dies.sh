#!/bin/sh
# rank_dies.sh EXAC MPIRUN_FLAGS... -- a rank killed mid-run (EXA_TEST_KILL)
# ends the whole job with a non-zero status within the test's timeout (no
# hang), and the checkpoint of the last finished epoch is intact: a run
# resumed from it finishes.
set -u
exac=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/p.exa" <<'PROG'
import nn;
data train = peaks(samples: 1000, seed: 1) -> (x: [2], y: class(5));
model m(x: [2]) -> [5] { return dense(tanh(dense(x, 8)), 5); }
loss = cross_entropy(m(x), y);
train { epochs = 4; batch = 100; optimizer = sgd(lr: 0.1); decompose = data(); }
PROG
"$exac" "$work/p.exa" -o "$work/p" || exit 1
# 10 steps per epoch: rank 1 dies after step 15, in epoch 2
EXA_TEST_KILL=1:15 mpirun "$@" -np 2 "$work/p" --checkpoint "$work/ck" --quiet > "$work/out" 2>&1
rc=$?
if [ "$rc" = 0 ]; then
    echo "FAIL: the job exited 0 although rank 1 was killed"; cat "$work/out"; exit 1
fi
echo "job ended with status $rc:"; head -5 "$work/out"
[ -f "$work/ck/checkpoint.exa" ] || { echo "FAIL: no checkpoint of epoch 1"; exit 1; }
mpirun "$@" -np 2 "$work/p" --checkpoint "$work/ck" --resume --quiet --log "$work/log" || {
    echo "FAIL: resuming from the checkpoint failed"; exit 1; }
first=$(head -n 1 "$work/log" | sed 's/.*"epoch":\([0-9]*\).*/\1/')
[ "$first" = 2 ] || { echo "FAIL: resumed at epoch $first, expected 2"; exit 1; }
echo "resumed from epoch 1's checkpoint and finished"
