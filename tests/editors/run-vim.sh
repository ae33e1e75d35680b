#!/bin/sh
# run-vim.sh SRC - runs vim-test.vim in the real Vim; exit 77 (skipped) when
# there is no Vim with +eval and +syntax (vim-nox, vim, vim-gtk3 ...).
src=${1:?usage: run-vim.sh SOURCE_DIR}
vim=${VIM_PROGRAM:-vim}
if ! command -v "$vim" >/dev/null 2>&1; then
    echo "SKIPPED: no '$vim' on PATH (Debian: apt-get install vim-nox)"
    exit 77
fi
if ! "$vim" --version 2>/dev/null | grep -q '+eval' ||
   ! "$vim" --version 2>/dev/null | grep -q '+syntax'; then
    echo "SKIPPED: '$vim' lacks +eval or +syntax (vim-tiny?); install vim-nox"
    exit 77
fi
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
: >"$log"
EXA_SRC=$src EXA_LOG=$log "$vim" -Nu NONE -i NONE -Es -S "$src/tests/editors/vim-test.vim" </dev/null
rc=$?
cat "$log"
if [ "$rc" -eq 0 ] && ! grep -q ' 0 failed$' "$log"; then
    echo "vim test did not finish"   # e.g. an error in the script stopped it
    rc=1
fi
[ "$rc" -eq 0 ] || echo "vim test failed (exit $rc)"
exit "$rc"
