#!/bin/sh
# nodev.sh PROGRAM: asking for a GPU where there is none (or no GPU code)
# ends with status 1 and exactly one line on stderr, `exa: --device gpu: ...`
# (no crash, no sanitizer report, nothing on stdout).
tmp=$(mktemp) || exit 1
out=$("$1" 2>"$tmp"); rc=$?
err=$(cat "$tmp"); rm -f "$tmp"
printf '%s\n' "$err"
if [ "$rc" = 77 ]; then
  echo "FAIL: a GPU opened, but configure found no NVIDIA driver: reconfigure (or -DEXA_GPU_TESTS=ON)"; exit 1
fi
lines=$(printf '%s\n' "$err" | wc -l)
if [ "$rc" != 1 ] || [ "$lines" != 1 ] || [ -n "$out" ]; then
  echo "FAIL: status $rc, $lines lines on stderr, stdout '$out'"; exit 1
fi
case "$err" in
  "exa: --device gpu: "*GPU*) echo "ok: one line, status 1" ;;
  *) echo "FAIL: the line does not say what is missing"; exit 1 ;;
esac
