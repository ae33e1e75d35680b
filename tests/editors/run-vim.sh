#!/bin/sh
# run-vim.sh SRC - runs vim-test.vim in the real Vim; fails, saying what to
# install, when there is no Vim with +eval and +syntax (.ci/install-deps.sh
# installs vim-nox).
src=${1:?usage: run-vim.sh SOURCE_DIR}
vim=${VIM_PROGRAM:-vim}
if ! command -v "$vim" >/dev/null 2>&1; then
    echo "FAIL: no '$vim' on PATH: run .ci/install-deps.sh (Debian: apt-get install vim-nox)"
    exit 1
fi
if ! "$vim" --version 2>/dev/null | grep -q '+eval' ||
   ! "$vim" --version 2>/dev/null | grep -q '+syntax'; then
    echo "FAIL: '$vim' lacks +eval or +syntax (vim-tiny?): run .ci/install-deps.sh (vim-nox)"
    exit 1
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
