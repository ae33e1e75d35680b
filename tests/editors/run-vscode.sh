#!/bin/sh
# run-vscode.sh SRC - checks editors/vscode with the real TextMate engine
# (vscode-textmate + vscode-oniguruma, through vscode-tmgrammar-test) and its
# configuration with node.  The tooling is installed by .ci/install-deps.sh
# (`npm ci` into tests/editors/vscode/node_modules, from the pinned
# package-lock.json); this test never reaches the network, and fails, saying
# what to run, when node or the tooling is missing.
src=${1:?usage: run-vscode.sh SOURCE_DIR}
here=$src/tests/editors/vscode
tool=$here/node_modules/.bin/vscode-tmgrammar-test

if ! command -v node >/dev/null 2>&1; then
    echo "FAIL: no node on PATH: run .ci/install-deps.sh (Debian: apt-get install nodejs)"
    exit 1
fi
if [ ! -x "$tool" ]; then
    echo "FAIL: $tool is not installed:"
    echo "      run .ci/install-deps.sh, or (cd tests/editors/vscode && npm ci)"
    exit 1
fi

rc=0
"$tool" -g "$src/editors/vscode/syntaxes/exa.tmLanguage.json" "$here"/*.test.exa || rc=1
node "$here/check-config.js" "$src" || rc=1
[ "$rc" -eq 0 ] || echo "vscode test failed"
exit "$rc"
