#!/bin/sh
# install-deps.sh - everything exa needs to build, test and run its examples,
# so that README's test command passes with nothing skipped.  Run as root on
# Debian 12, from anywhere in the repository.  The CUDA toolkit is not a
# Debian package: it is used from /usr/local/cuda when present (GPU parts are
# optional at configure time and loaded at run time).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Besides the build: git (Emacs's find-file asks it about the checkout the
# editor test runs in), python3 (tests/docs/doctest.py), jq (used by
# docs/tutorial.md, which that test runs), gzip and the
# coreutils/diffutils/mawk every test script uses (Essential on Debian, named
# so a minimal image cannot lack them), Vim, Emacs and Node.js (the editor
# tests), openmpi-bin (mpirun; it pulls in openssh-client, which Open MPI asks for),
# python3-numpy (tests/use: --predict against a NumPy forward pass) and
# python3-matplotlib (exa-plot, run by tests/use and docs/tutorial.md).
# Not python3-torch: only the benchmarks use it (bench/throughput.sh says so).
apt-get install -y -qq --no-install-recommends \
    build-essential cmake flex bison \
    llvm-14-dev llvm-14-tools clang-14 libclang-rt-14-dev \
    libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev \
    dataset-fashion-mnist \
    git python3 python3-numpy python3-matplotlib gzip coreutils diffutils mawk jq \
    vim-nox emacs-nox nodejs >/dev/null
# The VS Code grammar test runs the grammar through vscode-tmgrammar-test,
# installed here (the test runs offline and fails without it) from the
# pinned tests/editors/vscode/package-lock.json into that folder's
# node_modules.  Some nodejs builds (NodeSource's) ship npm inside; Debian's
# splits it out, and the two conflict.
if ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
vscode=$(cd "$(dirname "$0")/../tests/editors/vscode" && pwd)
(cd "$vscode" && npm ci --no-audit --no-fund --loglevel=error)
