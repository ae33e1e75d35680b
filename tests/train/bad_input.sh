#!/bin/sh
# bad_input.sh - wrong input stops a training executable with one clear line
# on stderr, a non-zero exit status, no hang and no crash; and what a run
# prints is where and when it should be (banner, progress, usage line).
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
. "$srcdir/data/npy.sh"
# prog NAME DATA_LINES FIELDS LOSS: a small program over declared data
# (FIELDS: the train set's fields; LOSS over model f of x)
prog() {
    cat >"$1.exa" <<PROG
import nn;
$2
model f(x: [2]) -> [3] { return dense(tanh(dense(x, 8)), 3); }
loss = $3;
train { epochs = 1; batch = 8; optimizer = sgd(lr: 0.05); seed = 1; }
PROG
    compile "$1.exa" "$1"
}
class3='cross_entropy(f(x), y)'
real1='(f(x)[0] - y[0])^2'
# 40 samples: features (0.5, 1), (-0.5, -1), ... (f4), labels 0 1 0 1 ... (i8)
x40=$(rows 40 0000003f0000803f 000000bf000080bf)
npy x.npy '<f4' '(40, 2)' "$x40"
lab40=$(rows 40 0000000000000000 0100000000000000)
# samples of the first epoch written by a previous run's checkpoint
case $case in
npy_float_labels)
    # float32 labels, and 2-D integer labels, for a class(3) field: these
    # crashed every rank (the labels were read before their type was checked)
    npy y.npy '<f4' '(40,)' "$(rows 40 00000000 0000803f)"
    npy y2.npy '<i8' '(40, 1)' "$(rows 40 0000000000000000 0100000000000000)"
    prog p 'data train = npy(x: "x.npy", y: "y.npy") -> (x: [2], y: class(3));' "$class3"
    expect 1 "^exa: y.npy: holds real values \(1 per sample\), but field 'y' of data 'train' is class\(3\)" ./p --quiet
    expect 1 "^exa: y2.npy: holds real values \(1 per sample\), but field 'y' of data 'train' is class\(3\)" \
        ./p --quiet --data train.y=y2.npy ;;
npy_no_labels)
    prog p 'data train = npy(x: "x.npy") -> (x: [2], y: class(3));' "$class3"
    expect 1 "^exa: data 'train': field 'y' is class\(3\), but the npy source reads no y file \(give y: PATH, or --data train.y=PATH\)$" ./p --quiet ;;
npy_targets)
    # a real-valued field given class labels, or 3 targets per sample for
    # y: [1]: both read memory that was never written
    npy y3.npy '<f4' '(40, 3)' "$(rows 40 0000803f0000803f0000803f 000000000000000000000000)"
    npy lab.npy '<i8' '(40,)' "$lab40"
    prog p 'data train = npy(x: "x.npy", y: "y3.npy") -> (x: [2], y: [1]);' "$real1"
    expect 1 "^exa: y3.npy: holds 3 target values per sample, but field 'y' of data 'train' is real-valued \[1\] \(1\)" ./p --quiet
    expect 1 "^exa: lab.npy: holds class labels \(integers of shape \(N,\)\), but field 'y' of data 'train' is real-valued \[1\]" \
        ./p --quiet --data train.y=lab.npy ;;
gzip_cut)
    # a gzip CSV whose second member is cut after its header: what decodes
    # ends on a line boundary, and used to train on the first half only
    head -n 17 "$srcdir/data/reg.csv" | gzip -c >cut.csv.gz
    tail -n +18 "$srcdir/data/reg.csv" | gzip -c | head -c 10 >>cut.csv.gz
    compile "$srcdir/small_mse.exa" p
    expect 1 "^exa: cut.csv.gz: truncated: the gzip stream ends early" ./p --quiet --data train=cut.csv.gz ;;
gzip_corrupt)
    # a valid gzip header, then bytes that are no deflate stream: zlib's
    # message (it was read after gzclose had freed it)
    gzip -nc <"$srcdir/data/reg.csv" | head -c 10 >bad.csv.gz
    printf '\377\377\377\377\377\377\377\377\377\377\377\377' >>bad.csv.gz
    compile "$srcdir/small_mse.exa" p
    expect 1 "^exa: bad.csv.gz: cannot read: invalid block type$" ./p --quiet --data train=bad.csv.gz ;;
nonfinite)
    # NaN and infinity in CSV and .npy features and targets: refused by file
    # and line or sample, not "the loss is NaN" later
    sed '5s/^[^,]*,[^,]*/0.5,nan/' "$srcdir/data/reg.csv" >nan.csv
    sed '9s/,[^,]*$/,-inf/' "$srcdir/data/reg.csv" >inf.csv
    compile "$srcdir/small_mse.exa" p
    expect 1 "^exa: nan.csv: line 5, field 2: nan is not a finite number$" ./p --quiet --data train=nan.csv
    expect 1 "^exa: inf.csv: line 9, field 5: -inf is not a finite number$" ./p --quiet --data train=inf.csv
    npy xn.npy '<f4' '(40, 2)' "$(rows 40 0000003f0000803f 000000bf000080bf 7 0000c07f0000803f)"
    npy lab.npy '<i8' '(40,)' "$lab40"
    prog q 'data train = npy(x: "xn.npy", y: "lab.npy") -> (x: [2], y: class(3));' "$class3"
    expect 1 "^exa: xn.npy: sample 7, value 0: nan is not a finite number$" ./q --quiet ;;
empty_sets)
    # an empty validation set printed "test: loss nan" and exited 0
    npy lab.npy '<i8' '(40,)' "$lab40"
    npy x0.npy '<f4' '(0, 2)' ''
    npy lab0.npy '<i8' '(0,)' ''
    prog p 'data train = npy(x: "x.npy", y: "lab.npy") -> (x: [2], y: class(3));
data test = npy(x: "x0.npy", y: "lab0.npy") -> (x: [2], y: class(3));' "$class3"
    expect 1 "^exa: x0.npy: no samples: the array's shape is \(0, 2\)$" ./p --quiet
    printf 'a,b,c,t1,t2\n' >empty.csv
    compile "$srcdir/small_mse.exa" q
    expect 1 "^exa: empty.csv: no data rows$" ./q --quiet --data train=empty.csv ;;

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
    expect 2 "exa: --lr: expected a positive finite number, got '-1'" ./prog --lr -1
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
    expect 2 "^exa: --checkpoint: the value is empty$" ./prog --quiet --checkpoint "" ;;
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
flag_values)
    # every numeric flag whole and in range: no infinity, no saturation at
    # 2^63 or truncation to int, no trailing text, no sign
    compile "$srcdir/small_sgd.exa" prog
    expect 2 "^exa: --lr: expected a positive finite number, got 'inf'$" ./prog --lr inf
    expect 2 "^exa: --lr: expected a positive finite number, got '1e999'$" ./prog --lr 1e999
    expect 2 "^exa: --lr: expected a positive finite number, got 'nan'$" ./prog --lr nan
    expect 2 "^exa: --lr: expected a positive finite number, got '0.1x'$" ./prog --lr 0.1x
    expect 2 "^exa: --seed: expected a non-negative integer \\(at most 9223372036854775807\\), got '18446744073709551616'$" \
        ./prog --seed 18446744073709551616
    expect 2 "^exa: --seed: expected a non-negative integer, got '-1'$" ./prog --seed -1
    expect 2 "^exa: --threads: expected an integer from 1 to 64, got '2147483648'$" ./prog --threads 2147483648
    expect 2 "^exa: --threads: expected an integer from 1 to 64, got '65'$" ./prog --threads 65
    expect 2 "^exa: --epochs: expected a positive integer \(at most 9223372036854775807\), got '99999999999999999999'$" \
        ./prog --epochs 99999999999999999999
    expect 2 "^exa: --batch: expected a positive integer, got '\+5'$" ./prog --batch +5
    expect 2 "^exa: --limit: expected a positive integer, got '10 '$" ./prog --limit '10 '
    expect 2 "^exa: --stop-after: expected a positive integer, got '1.5'$" ./prog --stop-after 1.5
    expect 2 "^exa: --eval-limit: expected a positive integer, got '0'$" ./prog --eval-limit 0
    expect 2 "^exa: --bench-step: expected a positive integer, got '2e3'$" ./prog --bench-step 2e3
    # empty values, and a --data NAME longer than any data set's
    expect 2 "^exa: --checkpoint: the value is empty$" ./prog --checkpoint ''
    expect 2 "^exa: --log: the value is empty$" ./prog --log ''
    long=$(printf '%0200d' 0)
    expect 2 "^exa: --data: NAME is too long, got '${long}=x.csv'$" ./prog --data "$long=x.csv"
    # the largest values are accepted (the run is short: --stop-after 1)
    echo "+ ./prog --quiet --seed 9223372036854775807 --threads 64 --epochs 9223372036854775807 --stop-after 1"
    ./prog --quiet --seed 9223372036854775807 --threads 64 --epochs 9223372036854775807 --stop-after 1 ||
        { echo "FAIL: status $?" >&2; fail=1; } ;;
limit_ranks)
    # --limit 3 with 4 ranks: the batch is cut to 3, so "use --batch 4" was
    # advice that could not work
    compile "$srcdir/small_sgd.exa" prog
    root=; [ "$(id -u)" = 0 ] && root=--allow-run-as-root
    echo "+ mpirun -np 4 ./prog --quiet --limit 3"
    mpirun --oversubscribe $root -np 4 ./prog --quiet --limit 3 >out.txt 2>err.txt
    rc=$?
    cat err.txt >&2
    [ $rc != 0 ] && [ $rc -lt 128 ] || { echo "FAIL: status $rc" >&2; fail=1; }
    grep -q "^exa: 4 ranks but data 'train' has 3 samples (--limit): every rank needs at least one (use --limit 4 or more, or at most 3 ranks)$" err.txt ||
        { echo "FAIL: no advice about --limit" >&2; fail=1; }
    ! grep -q -- "--batch" err.txt || { echo "FAIL: advises --batch" >&2; fail=1; } ;;
banner_flushed)
    # the banner reaches a file before the first epoch ends: the run is
    # killed (SIGKILL, no exit handlers) after its first step
    compile "$srcdir/small_sgd.exa" prog
    echo "+ EXA_TEST_KILL=0:1 ./prog >out.txt"
    EXA_TEST_KILL=0:1 ./prog >out.txt 2>err.txt
    rc=$?
    [ $rc = 137 ] || { echo "FAIL: status $rc, expected 137 (killed)" >&2; fail=1; }
    grep -q "^exa: training .*small_sgd.exa: 213 parameters, 500 samples" out.txt ||
        { echo "FAIL: the banner is not in the file:" >&2; cat out.txt >&2; fail=1; } ;;
progress_mpirun)
    # under mpirun, rank 0 draws the progress line in place when mpirun's
    # output is a terminal (script(1) gives it one), plain lines otherwise
    compile "$srcdir/small_sgd.exa" prog
    root=; [ "$(id -u)" = 0 ] && root=--allow-run-as-root
    echo "+ script -qec 'mpirun -np 2 ./prog --epochs 1' typescript"
    script -qec "mpirun --oversubscribe $root -np 2 ./prog --epochs 1" typescript </dev/null >/dev/null 2>&1 ||
        { echo "FAIL: script/mpirun" >&2; fail=1; }
    grep -q "step 1/5" typescript || { echo "FAIL: no progress within the epoch:" >&2; cat -A typescript >&2; fail=1; }
    [ "$(grep -c "exa: training" typescript)" = 1 ] || { echo "FAIL: not one banner" >&2; fail=1; }
    echo "+ mpirun -np 2 ./prog --epochs 1 >out.txt"
    mpirun --oversubscribe $root -np 2 ./prog --epochs 1 >out.txt 2>err.txt || { echo "FAIL: mpirun" >&2; fail=1; }
    ! grep -q "step 1/5" out.txt || { echo "FAIL: progress drawn into a file" >&2; fail=1; }
    grep -q "^epoch 1/1  step 5/5  loss" out.txt || { echo "FAIL: no epoch line" >&2; fail=1; } ;;
usage_argv0)
    # the usage line names the executable as run, not "./train"; --data
    # keys are not leaked (LeakSanitizer, in sanitizer builds)
    compile "$srcdir/small_sgd.exa" my_peaks
    for cmd in ./my_peaks "$work/my_peaks"; do
        echo "+ $cmd --data train=x.csv --help"
        ASAN_OPTIONS=detect_leaks=1 "$cmd" --data train=x.csv --help >out.txt 2>err.txt ||
            { echo "FAIL: --help status $?" >&2; cat err.txt >&2; fail=1; }
        [ "$(head -n 1 out.txt)" = "usage: [mpirun -np P] $cmd [options]" ] ||
            { echo "FAIL: usage line: $(head -n 1 out.txt)" >&2; fail=1; }
    done ;;
*)
    echo "bad_input.sh: unknown case $case" >&2
    exit 2 ;;
esac
[ "$fail" = 0 ] && echo "ok: $case"
exit $fail
