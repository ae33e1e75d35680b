#!/bin/sh
# nodev_train.sh EXAC SRC WORKDIR: a training executable asked for a GPU on
# a machine without one (EXA_GPU_EMULATE unset) says so in one line on
# stderr, `exa: rank 0: --device gpu: ...`, prints nothing on stdout and
# exits 1; both `--device gpu` and the train block's `device = gpu;`.
set -u
exac=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
"$exac" "$src" -o "$work/prog" || { echo "FAIL: exac $src" >&2; exit 1; }
unset EXA_GPU_EMULATE
fail=0
for flags in "--device gpu" ""; do
    # shellcheck disable=SC2086
    "$work/prog" $flags >"$work/out" 2>"$work/err"
    rc=$?
    cat "$work/err"
    lines=$(wc -l <"$work/err")
    if [ "$rc" != 1 ] || [ "$lines" != 1 ] || [ -s "$work/out" ]; then
        echo "FAIL ($flags): status $rc, $lines lines on stderr, $(wc -c <"$work/out") bytes on stdout"
        fail=1
    elif ! grep -Eq '^exa: rank 0: --device gpu: .*(GPU|CUDA)' "$work/err"; then
        echo "FAIL ($flags): the line does not say what is missing"
        fail=1
    else
        echo "ok ($flags): one line, status 1"
    fi
done
exit $fail
