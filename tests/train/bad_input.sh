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
