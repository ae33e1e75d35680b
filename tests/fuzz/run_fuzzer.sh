#!/bin/sh
# run_fuzzer.sh FUZZER CORPUS SECONDS SOURCE_DIR [SEED]
# Fuzzes for SECONDS, seeded with the repository's .exa files.  SEED 0 (the
# default) lets libFuzzer pick one, for finding new crashes on a workstation;
# CI passes a fixed SEED so that its verdict on a commit is reproducible
# (a random seed once failed CI on a bug older than the commit under test).  libFuzzer
# exits non-zero on a crash, leak or timeout and writes the input to
# crash-*/leak-*/timeout-* in the current directory: add it to
# tests/fuzz/regressions/ once fixed.
set -eu
fuzzer=$1 corpus=$2 seconds=$3 src=$4 seed=${5:-0}
mkdir -p "$corpus"
for f in "$src"/examples/*.exa "$src"/stdlib/*.exa "$src"/tests/diag/*.exa "$src"/tests/shapes/*.exa; do
    [ -f "$f" ] && cp "$f" "$corpus/"
done
# -rss_limit_mb: exac must stay small on any input; -timeout: no hangs.  Both
# leave room for the largest programs sema accepts (200000 instances) under
# ASan, which a fuzzer reaches by mutating tests/diag's exponential-layer case.
exec "$fuzzer" "$corpus" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2560 \
     -max_len=4096 -print_final_stats=1 -seed="$seed"
