#!/bin/sh
# resume.sh - a run interrupted and resumed ends bit for bit where an
# uninterrupted run ends.
#
#   sh resume.sh [-n NP -l LAUNCHER] [-K STEP] EXAC SRC WORKDIR EPOCHS K [ARGS...]
#
# A: EPOCHS epochs with --checkpoint A.  B: the same with --checkpoint B,
# interrupted after K epochs, then --resume to the end.  Interrupted by
# --stop-after K (as if killed at the epoch's end), or with -K STEP killed:
# rank 0 gets SIGKILL after optimiser step STEP (EXA_TEST_KILL), which must
# lie inside epoch K+1, so the checkpoint of epoch K is the last one.
# -n NP runs every run under LAUNCHER (mpirun and its flags) with NP ranks.
# The final checkpoint files A and B must be byte-identical (cmp): same
# parameters, optimiser state, epoch, step and checksum.
set -u
np= launcher= kill=
while [ $# -gt 0 ]; do
    case $1 in
    -n) np=$2; shift 2 ;;
    -l) launcher=$2; shift 2 ;;
    -K) kill=$2; shift 2 ;;
    *) break ;;
    esac
done
exac=$1 src=$2 work=$3 epochs=$4 k=$5
shift 5
rm -rf "$work" && mkdir -p "$work" || exit 1
bin=$work/prog
"$exac" "$src" -o "$bin" || { echo "FAIL: exac $src" >&2; exit 1; }
launch() {
    if [ -n "$np" ]; then $launcher -np "$np" "$bin" "$@"; else "$bin" "$@"; fi
}
run() { echo "+ prog $*"; launch --quiet --epochs "$epochs" "$@" || { echo "FAIL: exit status $? from: prog $*" >&2; exit 1; }; }
# the epoch field (offset 16, 8 bytes little-endian) of a checkpoint
epoch_of() { od -An -j16 -N8 -tu8 "$1" | tr -d ' '; }
run --checkpoint "$work/A" "$@"
if [ -n "$kill" ]; then
    echo "+ EXA_TEST_KILL=0:$kill prog --checkpoint $work/B $*"
    EXA_TEST_KILL=0:$kill launch --quiet --epochs "$epochs" --checkpoint "$work/B" "$@" >"$work/killed.out" 2>&1 &&
        { echo "FAIL: the run to be killed after step $kill ended normally" >&2; exit 1; }
else
    run --checkpoint "$work/B" --stop-after "$k" "$@"
fi
got=$(epoch_of "$work/B/checkpoint.exa")
[ "$got" = "$k" ] || { echo "FAIL: the interrupted run left a checkpoint of epoch $got, not $k" >&2; exit 1; }
cp "$work/B/checkpoint.exa" "$work/after_k.exa"
run --checkpoint "$work/B" --resume "$@"
got=$(epoch_of "$work/B/checkpoint.exa")
[ "$got" = "$epochs" ] || { echo "FAIL: the resumed run ended at epoch $got, not $epochs" >&2; exit 1; }
if cmp -s "$work/after_k.exa" "$work/A/checkpoint.exa"; then
    echo "FAIL: nothing was trained after epoch $k" >&2
    exit 1
fi
if ! cmp "$work/A/checkpoint.exa" "$work/B/checkpoint.exa"; then
    echo "FAIL: the resumed run's final checkpoint differs from the uninterrupted run's" >&2
    exit 1
fi
echo "ok: $(wc -c <"$work/A/checkpoint.exa") bytes identical after $epochs epochs, resumed after $k"
