#!/bin/sh
# install-deps.sh - every Debian package exa needs to build, test and run its
# examples.  Run as root on Debian 12.  The CUDA toolkit is not a Debian
# package: it is used from /usr/local/cuda when present (GPU parts are
# optional at configure time and loaded at run time).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential cmake flex bison \
    llvm-14-dev llvm-14-tools clang-14 libclang-rt-14-dev \
    libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev \
    dataset-fashion-mnist \
    vim-nox emacs-nox nodejs >/dev/null
# The editor tests run the VS Code grammar through npm.  Some nodejs builds
# (NodeSource's) ship npm inside; Debian's splits it out, and the two conflict.
if ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
