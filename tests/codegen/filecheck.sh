#!/bin/sh
# filecheck.sh CG_DUMP FILECHECK CHECKFILE: runs cg_dump with the arguments
# named on the check file's first line ("; RUN: cg_dump ARGS") and checks its
# output with FileCheck.
set -e
dump=$1 filecheck=$2 check=$3
args=$(sed -n '1s/^; RUN: cg_dump //p' "$check")
eval "set -- $args"
"$dump" "$@" > "${TMPDIR:-/tmp}/cg_filecheck.$$"
status=0
"$filecheck" --input-file "${TMPDIR:-/tmp}/cg_filecheck.$$" "$check" || status=$?
rm -f "${TMPDIR:-/tmp}/cg_filecheck.$$"
exit $status
