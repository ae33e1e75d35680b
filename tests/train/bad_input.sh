#!/bin/sh
# bad_input.sh - wrong input stops a training executable with one clear line
# on stderr, a non-zero exit status, no hang and no crash.
#
#   sh bad_input.sh CASE EXAC SRCDIR WORKDIR
#
# Each case compiles a program of SRCDIR (tests/train), runs it on the bad
# input and checks the status and the message (grep -E).
set -u
case=$1 exac=$2 srcdir=$3 work=$4
fashion=/usr/share/datasets/fashion-mnist
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$work" || exit 1
fail=0
compile() { "$exac" "$1" -o "$2" || { echo "FAIL: exac $1" >&2; exit 1; }; }
# expect STATUS REGEX CMD...: runs CMD; checks its exit status, that stderr
# matches REGEX, is one line, and that nothing crashed (status >= 128).
expect() {
    want=$1 re=$2
    shift 2
    echo "+ $*"
    "$@" >out.txt 2>err.txt
    rc=$?
    cat err.txt >&2
    if [ "$rc" != "$want" ]; then
        echo "FAIL: exit status $rc, expected $want" >&2
        fail=1
    fi
    if ! grep -Eq -- "$re" err.txt; then
        echo "FAIL: stderr does not match /$re/" >&2
        fail=1
    fi
    lines=$(grep -c . err.txt)
    if [ "$lines" != 1 ]; then
        echo "FAIL: $lines lines on stderr, expected one" >&2
        fail=1
    fi
}
# samples of the first epoch written by a previous run's checkpoint
case $case in
missing_file)
    compile "$srcdir/../../examples/fashion_mlp.exa" prog
    expect 1 "exa: .*/no/such/dir/images.gz: .*(No such file|cannot open|not found)" \
        ./prog --quiet --data train.images=/no/such/dir/images.gz ;;
truncated_idx)
    compile "$srcdir/../../examples/fashion_mlp.exa" prog
    gzip -dc "$fashion/train-images-idx3-ubyte.gz" | head -c 100000 >trunc-images-idx3-ubyte
    expect 1 "exa: .*trunc-images-idx3-ubyte: .*(truncated|short|bytes|expected)" \
        ./prog --quiet --data train.images=trunc-images-idx3-ubyte ;;
truncated_gzip)
    compile "$srcdir/../../examples/fashion_mlp.exa" prog
    head -c 200000 "$fashion/train-images-idx3-ubyte.gz" >trunc-images.gz
    expect 1 "exa: .*trunc-images.gz: .*(truncated|short|bytes|expected|gzip|end)" \
        ./prog --quiet --data train.images=trunc-images.gz ;;
wrong_shape)
    compile "$srcdir/bad_shape.exa" prog
    expect 1 "exa: .*(783.*784|784.*783)" ./prog --quiet ;;
override_bad_file)
    # the labels file (idx1) given as the images (idx3)
    compile "$srcdir/../../examples/fashion_mlp.exa" prog
    expect 1 "exa: .*train-labels-idx1-ubyte.gz: " \
        ./prog --quiet --data train.images="$fashion/train-labels-idx1-ubyte.gz" ;;
override_generated)
    # a generated data set reads no file: --data must not be ignored silently
    compile "$srcdir/small_sgd.exa" prog
    expect 1 "exa: --data train.*(generated|no file|peaks)" ./prog --quiet --data train=/tmp/x.csv ;;
override_unknown)
    compile "$srcdir/small_sgd.exa" prog
    expect 1 "exa: --data nosuch.*no data set 'nosuch'" ./prog --quiet --data nosuch=/tmp/x.csv ;;
unknown_flag)
    compile "$srcdir/small_sgd.exa" prog
    expect 2 "exa: --frobnicate: unknown option" ./prog --frobnicate 3 ;;
bad_flag_value)
    compile "$srcdir/small_sgd.exa" prog
    expect 2 "exa: --epochs: expected a positive integer, got 'zero'" ./prog --epochs zero
    expect 2 "exa: --lr: expected a positive number, got '-1'" ./prog --lr -1
    expect 2 "exa: --batch: missing value" ./prog --batch ;;
resume_no_dir)
    compile "$srcdir/small_sgd.exa" prog
    expect 2 "exa: --resume: no checkpoint directory" ./prog --quiet --resume ;;
resume_no_checkpoint)
    compile "$srcdir/small_sgd.exa" prog
    mkdir empty
    expect 1 "exa: empty/checkpoint.exa: " ./prog --quiet --resume --checkpoint empty ;;
corrupt_checkpoint)
    compile "$srcdir/small_sgd.exa" prog
    ./prog --quiet --epochs 1 --checkpoint ck || { echo "FAIL: training" >&2; exit 1; }
    # flip one bit of a parameter byte in the middle of the file
    size=$(wc -c <ck/checkpoint.exa)
    at=$((size / 2))
    byte=$(od -An -j$at -N1 -tu1 ck/checkpoint.exa | tr -d ' ')
    printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of=ck/checkpoint.exa bs=1 seek=$at conv=notrunc 2>/dev/null
    cmp -s ck/checkpoint.exa /dev/null
    expect 1 "exa: ck/checkpoint.exa: .*checksum" ./prog --quiet --resume --checkpoint ck ;;
nan_loss)
    # NaN from the first step: status 3 and no checkpoint at all
    compile "$srcdir/nan_log.exa" prog
    expect 3 "exa: epoch 1: the loss is NaN; stopping" ./prog --quiet --checkpoint ck
    [ ! -e ck/checkpoint.exa ] || { echo "FAIL: a checkpoint was written" >&2; fail=1; } ;;
checkpoint_empty)
    compile "$srcdir/small_sgd.exa" prog
    expect 1 "^exa: rank 0: --checkpoint: the directory name is empty$" ./prog --quiet --checkpoint "" ;;
checkpoint_unwritable)
    # found at start-up, before any training: a file where the directory goes
    compile "$srcdir/small_sgd.exa" prog
    : >afile
    expect 1 "^exa: rank 0: afile/ck: cannot create the checkpoint directory: Not a directory$" \
        ./prog --epochs 1 --checkpoint afile/ck
    if grep -q "epoch" out.txt; then
        echo "FAIL: it trained before finding the checkpoint directory unwritable" >&2
        fail=1
    fi ;;
checkpoint_stale_tmp)
    # a writer killed between its temporary file and the rename left one
    compile "$srcdir/small_sgd.exa" prog
    mkdir ck && echo partial >ck/.checkpoint.exa.tmp.AbC123 && : >ck/.other.tmp.keep
    expect 0 "^exa: ck: removed 1 temporary checkpoint file a killed run left$" \
        ./prog --epochs 1 --checkpoint ck
    if [ -e ck/.checkpoint.exa.tmp.AbC123 ] || [ ! -e ck/.other.tmp.keep ] || [ ! -s ck/checkpoint.exa ]; then
        echo "FAIL: the stale temporary file is still there (or another file went, or no checkpoint)" >&2
        fail=1
    fi ;;
checkpoint_other_model)
    # the same parameter count and shapes, another model's names
    compile "$srcdir/small_sgd.exa" prog
    sed 's/model f(/model g(/; s/f(x)/g(x)/' "$srcdir/small_sgd.exa" >other.exa
    compile other.exa other
    ./prog --quiet --epochs 1 --checkpoint ck || { echo "FAIL: training" >&2; exit 1; }
    expect 1 "^exa: ck/checkpoint.exa: written by another model: parameter 1 is 'f/dense#1/W' \[8, 2\] in the checkpoint and 'g/dense#1/W' \[8, 2\] in the model$" \
        ./other --quiet --resume --checkpoint ck ;;
checkpoint_version1)
    # a checkpoint of the old format (version field 1): one line, no resume
    compile "$srcdir/small_sgd.exa" prog
    ./prog --quiet --epochs 1 --checkpoint ck || { echo "FAIL: training" >&2; exit 1; }
    printf '\001' | dd of=ck/checkpoint.exa bs=1 seek=8 conv=notrunc 2>/dev/null
    expect 1 "^exa: ck/checkpoint.exa: format version 1, written by an older libexa; this one reads version 2" \
        ./prog --quiet --resume --checkpoint ck ;;
log_after_checkpoint)
    # killed just before the checkpoint of epoch 2: the log has no line for
    # epoch 2 yet, and the resumed run writes each epoch's line exactly once
    compile "$srcdir/small_sgd.exa" prog
    EXA_TEST_KILL=0:checkpoint:2 ./prog --quiet --checkpoint ck --log log.jsonl >/dev/null 2>&1 &&
        { echo "FAIL: the run was not killed" >&2; exit 1; }
    ./prog --quiet --resume --checkpoint ck --log log.jsonl || { echo "FAIL: resuming" >&2; exit 1; }
    got=$(grep -o '"epoch":[0-9]*' log.jsonl | tr '\n' ' ')
    echo "log epochs: $got"
    [ "$got" = '"epoch":1 "epoch":2 "epoch":3 ' ] || { echo "FAIL: expected epochs 1 2 3 once each" >&2; fail=1; } ;;
nan_keeps_checkpoint)
    # one good epoch, then lr 1e30: the loss overflows in epoch 2; the run
    # stops with status 3 and the checkpoint of epoch 1 is kept as it was
    compile "$srcdir/small_mse.exa" prog
    csv="--data train=$srcdir/data/reg.csv"
    ./prog --quiet --epochs 1 --checkpoint ck $csv || { echo "FAIL: training" >&2; exit 1; }
    cp ck/checkpoint.exa good.exa
    expect 3 "exa: epoch 2: the loss is (NaN|infinite); stopping \(the last checkpoint is kept in ck\)" \
        ./prog --quiet --resume --checkpoint ck --lr 1e30 $csv
    cmp good.exa ck/checkpoint.exa || { echo "FAIL: the checkpoint changed" >&2; fail=1; } ;;
*)
    echo "bad_input.sh: unknown case $case" >&2
    exit 2 ;;
esac
[ "$fail" = 0 ] && echo "ok: $case"
exit $fail
