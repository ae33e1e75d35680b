#!/bin/sh
# groups_case.sh - batch groups (core/batch_groups.c) through the real
# pipeline: compiles SRC in f64 with this build's exac, trains it several
# ways and compares the final checkpoints (ckpt_diff) and the epochs' logs.
#
#   sh groups_case.sh EXAC CKPT_DIFF SRC WORKDIR MODE G [-- ARGS...]
#
#   threads  EXA_BATCH_GROUPS=G (auto: unset) at --threads 1, 2 and 3:
#            bit-identical parameters and the same loss, validation loss
#            and accuracy in every epoch's log line (the groups and the
#            order of their sum do not depend on the threads)
#   threads_f32  the same, compiled in f32 (bit-identical too: every split
#            of f32 work computes each element alike)
#   versus   EXA_BATCH_GROUPS=G against EXA_BATCH_GROUPS=0 (one call), at
#            --threads 2: parameters within 1e-12, every epoch's losses
#            within 1e-12 relative and the same accuracy (a group left out,
#            at the wrong rows or weighted by 1/G instead of its share
#            fails); for G = auto also not bit-identical, so that the rule
#            did cut this model's rows (else the test proves nothing)
set -u
[ $# -ge 6 ] || { echo "usage: groups_case.sh EXAC CKPT_DIFF SRC WORKDIR MODE G [-- ARGS]" >&2; exit 2; }
exac=$1 ckdiff=$2 src=$3 work=$4 mode=$5 groups=$6
shift 6
[ "${1:-}" = "--" ] && shift
args=$*
rm -rf "$work" && mkdir -p "$work" || exit 1
bin=$work/prog
precision=f64
[ "$mode" = threads_f32 ] && precision=f32 mode=threads
"$exac" "$src" -o "$bin" --precision=$precision || { echo "FAIL: exac $src" >&2; exit 1; }

# run NAME GROUPS THREADS: trains into WORKDIR/NAME
run() {
    dir=$work/$1
    mkdir -p "$dir" || exit 1
    if [ "$2" = auto ]; then
        (unset EXA_BATCH_GROUPS
         "$bin" --quiet --threads "$3" --log "$dir/log.jsonl" --checkpoint "$dir/ckpt" $args)
    else
        EXA_BATCH_GROUPS=$2 "$bin" --quiet --threads "$3" --log "$dir/log.jsonl" --checkpoint "$dir/ckpt" $args
    fi >"$dir/out" 2>"$dir/err"
    rc=$?
    if [ $rc != 0 ]; then
        cat "$dir/err" >&2
        echo "FAIL: $1 (EXA_BATCH_GROUPS=$2, --threads $3) exited $rc" >&2
        exit 1
    fi
}

# The loss, validation loss and accuracy of every epoch's log line, as the
# log prints them (%.17g: equal text is an equal double).
losses() {
    awk '{
        line = ""
        n = split("loss validation_loss accuracy", k, " ")
        for (i = 1; i <= n; i++)
            if (match($0, "\"" k[i] "\":[^,}]*"))
                line = line " " substr($0, RSTART, RLENGTH)
        print line
    }' "$work/$1/log.jsonl"
}

diff_ckpt() {
    "$ckdiff" "$work/$1/ckpt/checkpoint.exa" "$work/$2/ckpt/checkpoint.exa" "$3"
}

fail=0
case $mode in
threads)
    for t in 1 2 3; do
        run t$t "$groups" $t
    done
    losses t1 >"$work/t1.losses"
    cat "$work/t1.losses"
    for t in 2 3; do
        echo "--threads $t against --threads 1:"
        diff_ckpt t1 t$t 0 || fail=1
        losses t$t | cmp -s - "$work/t1.losses" || { echo "FAIL: the logs' losses differ" >&2; fail=1; }
    done
    ;;
versus)
    run none 0 2
    run grouped "$groups" 2
    echo "EXA_BATCH_GROUPS=$groups against 0:"
    diff_ckpt none grouped 1e-12 || fail=1
    losses none >"$work/none.losses"
    losses grouped >"$work/grouped.losses"
    paste -d '\n' "$work/none.losses" "$work/grouped.losses"
    # field by field: losses within 1e-12 relative, the accuracy equal
    paste -d ' ' "$work/none.losses" "$work/grouped.losses" | awk '{
        n = NF / 2
        for (i = 1; i <= n; i++) {
            split($i, a, ":"); split($(i + n), b, ":")
            d = a[2] - b[2]; if (d < 0) d = -d
            m = a[2] < 0 ? -a[2] : a[2]
            if (a[1] != b[1] || (a[1] ~ /accuracy/ ? d != 0 : d > 1e-12 * m)) {
                print "FAIL: epoch " NR ": " $i " against " $(i + n) > "/dev/stderr"; bad = 1
            }
        }
    } END { exit bad }' || fail=1
    if [ "$groups" = auto ] && diff_ckpt none grouped 0 >/dev/null; then
        echo "FAIL: the rule did not group this model (bit-identical to EXA_BATCH_GROUPS=0)" >&2
        fail=1
    fi
    ;;
*)
    echo "groups_case.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
[ $fail = 0 ] && echo "ok"
exit $fail
