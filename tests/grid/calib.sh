#!/bin/sh
# calib.sh OUT - the cost model's calibration a `--grid-plan` run measured
# (the first line of OUT: "alpha A s/message, beta B s/word") is sane for
# shared memory on this machine: 1e-7 < alpha < 1e-3 s and beta > 0 (a
# ping-pong timing exa's napping wait loop gave alpha 1.9 ms and beta 0).
line=$(head -n 1 "$1")
echo "$line"
case $line in *"(measured)"*) ;; *) echo "calib.sh: not a measured calibration" >&2; exit 1 ;; esac
alpha=$(printf '%s\n' "$line" | sed -n 's/.*alpha \([^ ]*\) s\/message.*/\1/p')
beta=$(printf '%s\n' "$line" | sed -n 's/.*beta \([^ ]*\) s\/word.*/\1/p')
awk -v a="$alpha" -v b="$beta" 'BEGIN { exit !(a + 0 > 1e-7 && a + 0 < 1e-3 && b + 0 > 0) }' ||
    { echo "calib.sh: alpha $alpha s or beta $beta s/word out of range" >&2; exit 1; }
