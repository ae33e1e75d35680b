#!/bin/sh
# check.sh - the benchmark scripts' shared start (bench/common.sh), without
# running a benchmark:
#
#   sh check.sh common SRC BUILD   what common.sh sets, unsets and removes
#   sh check.sh scripts SRC BUILD  every bench/*.sh: parses, sources
#                                  common.sh (and repeats none of it),
#                                  answers -h with its usage line and stops
#                                  at once, with one line, on a build
#                                  directory that holds no exac
set -u
what=$1 src=$2 build=$3
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $what in
common)
    # a probe "in" bench/ ($0 names it: common.sh finds here and root by it)
    probe='set -eu
build=$1
. "$(dirname "$0")/common.sh"
echo "here=$here"
echo "root=$root"
echo "build=$build"
echo "exac=$exac"
echo "mpirun=$mpirun"
echo "coretype=${OPENBLAS_CORETYPE-unset} l2=${OPENBLAS_L2_SIZE-unset} omp=${OMP_NUM_THREADS-unset}"
bench_one_thread
echo "pinned omp=$OMP_NUM_THREADS blas=$OPENBLAS_NUM_THREADS"
[ -d "$work" ] && echo "work=$work"'
    rel=$(cd "$build/.." && pwd)
    (cd "$rel" && OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=1024 OMP_NUM_THREADS=7 OPENBLAS_NUM_THREADS=7 \
        sh -c "$probe" "$src/bench/probe.sh" "$(basename "$build")") >"$tmp/out" 2>"$tmp/err" ||
        bad "the probe failed: $(cat "$tmp/err")"
    cat "$tmp/out"
    abs_src=$(cd "$src" && pwd) abs_build=$(cd "$build" && pwd)
    for want in "here=$abs_src/bench" "root=$abs_src" "build=$abs_build" "exac=$abs_build/bin/exac" \
        "coretype=unset l2=unset omp=7" "pinned omp=1 blas=1"; do
        grep -qxF "$want" "$tmp/out" || bad "no line '$want'"
    done
    grep -Eqx 'mpirun=mpirun --oversubscribe( --allow-run-as-root)?' "$tmp/out" || bad "mpirun is not oversubscribed"
    if [ "$(id -u)" = 0 ]; then
        grep -q 'allow-run-as-root' "$tmp/out" || bad "root without --allow-run-as-root"
    fi
    work=$(sed -n 's/^work=//p' "$tmp/out")
    [ -n "$work" ] || bad "no scratch folder"
    [ -n "$work" ] && [ -e "$work" ] && bad "the scratch folder $work outlived the script"
    ;;
scripts)
    n=0
    for f in "$src"/bench/*.sh; do
        name=$(basename "$f")
        case $name in common.sh | variant.sh) continue ;; esac # the shared start; a helper
        n=$((n + 1))
        shell=sh
        head -n 1 "$f" | grep -q bash && shell=bash
        $shell -n "$f" || bad "$name does not parse"
        grep -qxF '. "$(dirname "$0")/common.sh"' "$f" || bad "$name does not source common.sh"
        grep -nE 'mktemp -d|mpirun --oversubscribe|unset OPENBLAS|--allow-run-as-root' "$f" &&
            bad "$name repeats common.sh's lines"
        $shell "$f" --help >"$tmp/help" 2>&1 || bad "$name --help failed"
        grep -q "^usage: bench/$name" "$tmp/help" || bad "$name --help prints no 'usage: bench/$name' line"
        grep -q '^set -eu' "$tmp/help" && bad "$name --help prints past its header"
        $shell "$f" "$tmp/nobuild" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        [ "$rc" = 2 ] || bad "$name on a missing build: exit status $rc, expected 2"
        [ -s "$tmp/out" ] && bad "$name on a missing build printed: $(cat "$tmp/out")"
        [ "$(grep -c . "$tmp/err")" = 1 ] && grep -q "^$name: $tmp/nobuild/bin/exac: no such executable" "$tmp/err" ||
            bad "$name on a missing build: stderr is not the one line: $(cat "$tmp/err")"
    done
    [ "$n" -ge 10 ] || bad "only $n scripts found in $src/bench"
    echo "$n scripts checked"
    ;;
*)
    bad "unknown case $what"
    ;;
esac
exit $fail
