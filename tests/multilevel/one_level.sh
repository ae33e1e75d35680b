#!/bin/sh
# one_level.sh EXAC WORKDIR CKPT_DIFF RMTR_SRC TR_SRC: RMTR with one level
# (pre: 1, post: 0, very_good: 0.75 = trust_region's fixed expansion
# threshold) and trust_region under data parallelism take the same steps:
# every epoch's loss and the final parameters are equal bit for bit.
set -u
exac=$1 work=$2 diff=$3 rmtr=$4 tr=$5
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
"$exac" "$rmtr" -o rmtr --precision=f64 && "$exac" "$tr" -o tr --precision=f64 || exit 1
./rmtr --quiet --threads 1 --epochs 5 --batch 250 --checkpoint a --log a.jsonl \
       --decompose 'multilevel(rmtr(levels: 1, pre: 1, post: 0, very_good: 0.75, radius: 1, min_radius: 0.001, max_radius: 10, accept: 0.05, expand: 2.5, shrink: 0.25, memory: 5))' || exit 1
./tr --quiet --threads 1 --checkpoint b --log b.jsonl || exit 1
sed 's/.*"loss":\([^,]*\),.*/\1/' a.jsonl > a.loss
sed 's/.*"loss":\([^,]*\),.*/\1/' b.jsonl > b.loss
paste a.loss b.loss
cmp a.loss b.loss || { echo "FAIL: the losses differ"; exit 1; }
[ "$(wc -l < a.loss)" -eq 5 ] || { echo "FAIL: not 5 epochs"; exit 1; }
"$diff" a/checkpoint.exa b/checkpoint.exa 0 || { echo "FAIL: the parameters differ"; exit 1; }
echo "one-level RMTR = trust region, step for step"
