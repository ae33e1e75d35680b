#!/bin/sh
# dp_reshard.sh - a data() checkpoint written at one rank count resumes at
# another and ends where one rank ends (tests/strategies/CMakeLists.txt).
#
#   sh dp_reshard.sh LAUNCHER EXAC CKPT_DIFF SRC REFERENCE WORKDIR NP1 NP2 TOL
#
# SRC (f64) runs at NP1 ranks with --checkpoint and --stop-after 2, then
# resumes at NP2 ranks to its last epoch; the final parameters must be within
# TOL of REFERENCE (one rank, uninterrupted).  Sharded (ZeRO-1, methods/data.c)
# each rank holds the optimiser state of its piece only, so a checkpoint that
# held a rank's piece of the momentum instead of the whole would resume with
# the wrong momentum on the other pieces (or not at all at another count).
set -u
launcher=$1 exac=$2 diff=$3 src=$4 ref=$5 work=$6 np1=$7 np2=$8 tol=$9
rm -rf "$work" && mkdir -p "$work" || exit 1
"$exac" "$src" -o "$work/prog" --precision=f64 || { echo "FAIL: exac $src" >&2; exit 1; }
run() {
    np=$1
    shift
    echo "+ -np $np prog $*"
    $launcher -np "$np" "$work/prog" --quiet --threads 1 --checkpoint "$work/ckpt" "$@" ||
        { echo "FAIL: exit status $? at $np ranks" >&2; exit 1; }
}
run "$np1" --stop-after 2
run "$np2" --resume
"$diff" "$ref" "$work/ckpt/checkpoint.exa" "$tol"
