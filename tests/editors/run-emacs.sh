#!/bin/sh
# run-emacs.sh SRC - runs the ERT tests of exa-mode-tests.el in the real Emacs,
# headless.  Emacs and git (find-file in a git checkout runs it through vc)
# come from .ci/install-deps.sh; without them the test fails saying so.
src=${1:?usage: run-emacs.sh SOURCE_DIR}
emacs=${EMACS:-emacs}
if ! command -v "$emacs" >/dev/null 2>&1; then
    echo "FAIL: no '$emacs' on PATH: run .ci/install-deps.sh (Debian: apt-get install emacs-nox)"
    exit 1
fi
if [ -e "$src/.git" ] && ! command -v git >/dev/null 2>&1; then
    echo "FAIL: no git on PATH, which Emacs runs in a git checkout: run .ci/install-deps.sh (apt-get install git)"
    exit 1
fi
HOME=${TMPDIR:-/tmp} exec "$emacs" -Q --batch \
    -l "$src/editors/emacs/exa-mode.el" \
    -l "$src/tests/editors/exa-mode-tests.el" \
    -f ert-run-tests-batch-and-exit </dev/null
