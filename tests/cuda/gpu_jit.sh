#!/bin/sh
# gpu_jit.sh EXAC PTXAS SOURCE WORKDIR - the PTX a program makes at run time.
#
# exac embeds only the CUDA source by default; `--device gpu` compiles it
# with NVRTC for the GPU it opens (runtime/gpu/gpu_nvrtc.c), through an
# on-disk cache.  There is no GPU here, so EXA_GPU_PTX_DUMP=sm_75:FILE drives
# the same loader and cache and stops the run with one line.  Checked: the
# default executable carries no PTX and --gpu-arch sm_75's does; the run-time
# PTX has as many kernels as exac's own, and ptxas accepts it for sm_75; the
# cache is written once, read on the second run (a marker added to the entry
# comes back), a damaged entry is compiled over, EXA_GPU_CACHE=off writes
# nothing.
set -u
exac=$1 ptxas=$2 src=$3 w=$4
fail() { echo "gpu_jit: $*" >&2; exit 1; }
rm -rf "$w" && mkdir -p "$w" || fail "cannot make $w"
"$exac" "$src" -o "$w/train" || fail "exac failed"
"$exac" "$src" -o "$w/train_aot" --gpu-arch sm_75 || fail "exac --gpu-arch sm_75 failed"
[ "$(grep -a -c '\.entry' "$w/train")" = 0 ] || fail "the default executable carries PTX"
aot=$(grep -a -c '\.entry' "$w/train_aot")
[ "$aot" -gt 0 ] || fail "--gpu-arch sm_75 embedded no PTX"

# run NAME CACHE: one dump run; its stderr in $w/NAME.err, PTX in $w/NAME.ptx
# Under the sanitizers (ASAN_OPTIONS set by CMake) only the first run keeps
# LeakSanitizer and its slow unwinder: the others run the same loader, and
# the slow unwinder on NVRTC's allocations made each run 9.7 s instead of 1.6.
run() {
    asan=${ASAN_OPTIONS:-}
    [ -z "$asan" ] || [ "$1" = first ] || asan="$asan:detect_leaks=0:fast_unwind_on_malloc=1"
    ASAN_OPTIONS=$asan EXA_GPU_CACHE=$2 EXA_GPU_PTX_DUMP="sm_75:$w/$1.ptx" "$w/train" --device gpu \
        >"$w/$1.out" 2>"$w/$1.err"
    rc=$?
    [ $rc = 1 ] || fail "$1: exit status $rc, expected 1"
    [ ! -s "$w/$1.out" ] || fail "$1: printed on stdout"
    [ "$(wc -l <"$w/$1.err")" = 1 ] || fail "$1: not one line: $(cat "$w/$1.err")"
}
expect() { grep -q "$2" "$w/$1.err" || fail "$1: expected '$2', got: $(cat "$w/$1.err")"; }
cache=$w/cache
entries() { find "$cache" -name '*.ptx' 2>/dev/null | wc -l; }

run first "$cache"
expect first "sm_75 PTX compiled by NVRTC, written to"
[ "$(grep -c '\.entry' "$w/first.ptx")" = "$aot" ] || fail "run-time PTX has $(grep -c '\.entry' "$w/first.ptx") kernels, exac's $aot"
grep -q '^\.target sm_75' "$w/first.ptx" || fail "run-time PTX is not for sm_75"
"$ptxas" -arch=sm_75 "$w/first.ptx" -o "$w/first.cubin" || fail "ptxas rejected the run-time PTX"
[ "$(entries)" = 1 ] || fail "cache holds $(entries) entries after one compile, expected 1"
entry=$(find "$cache" -name '*.ptx')
cmp -s "$entry" "$w/first.ptx" || fail "cache entry differs from the PTX used"

echo "// exa-cache-probe" >>"$entry"
run second "$cache"
expect second "sm_75 PTX from the cache"
grep -q 'exa-cache-probe' "$w/second.ptx" || fail "second run did not read the cache entry"

echo junk >"$entry"
run third "$cache"
expect third "compiled by NVRTC"
cmp -s "$entry" "$w/first.ptx" || fail "a damaged entry was not replaced"
[ -z "$(find "$cache" -name '.tmp-*')" ] || fail "temporary files left in the cache"

run off off
expect off "compiled by NVRTC"
[ ! -e off ] || fail "EXA_GPU_CACHE=off made a directory 'off'"
[ "$(entries)" = 1 ] || fail "EXA_GPU_CACHE=off touched the cache"

EXA_GPU_PTX_DUMP=bogus "$w/train" --device gpu 2>"$w/bogus.err" && fail "a bad EXA_GPU_PTX_DUMP ran"
expect bogus "EXA_GPU_PTX_DUMP: 'bogus' is not sm_NN:FILE"
echo "gpu_jit: ok ($aot kernels, ptxas sm_75, cache written, read, repaired)"
