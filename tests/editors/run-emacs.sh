#!/bin/sh
# run-emacs.sh SRC - runs the ERT tests of exa-mode-tests.el in the real Emacs,
# headless; exit 77 (skipped) when there is no Emacs (Debian: emacs-nox).
src=${1:?usage: run-emacs.sh SOURCE_DIR}
emacs=${EMACS:-emacs}
if ! command -v "$emacs" >/dev/null 2>&1; then
    echo "SKIPPED: no '$emacs' on PATH (Debian: apt-get install emacs-nox)"
    exit 77
fi
HOME=${TMPDIR:-/tmp} exec "$emacs" -Q --batch \
    -l "$src/editors/emacs/exa-mode.el" \
    -l "$src/tests/editors/exa-mode-tests.el" \
    -f ert-run-tests-batch-and-exit </dev/null
