#!/bin/sh
# run-vscode.sh SRC BUILD - checks editors/vscode with the real TextMate engine
# (vscode-textmate + vscode-oniguruma, through vscode-tmgrammar-test) and its
# configuration with node.  The test tooling is installed with `npm ci` from
# tests/editors/vscode/package-lock.json into BUILD/vscode-tools, once: later
# runs need no network.  Exit 77 (skipped) without node/npm or the tooling.
src=${1:?usage: run-vscode.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: run-vscode.sh SOURCE_DIR BUILD_DIR}
here=$src/tests/editors/vscode

if ! command -v node >/dev/null 2>&1; then
    echo "SKIPPED: no node on PATH (Debian: apt-get install nodejs npm)"
    exit 77
fi

# A developer's `npm ci` in tests/editors/vscode is used when present.
tools=$here
if [ ! -x "$tools/node_modules/.bin/vscode-tmgrammar-test" ]; then
    tools=$build/vscode-tools
    if [ ! -x "$tools/node_modules/.bin/vscode-tmgrammar-test" ] ||
       ! cmp -s "$here/package-lock.json" "$tools/package-lock.json"; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "SKIPPED: no npm on PATH to install vscode-tmgrammar-test (apt-get install npm)"
            exit 77
        fi
        mkdir -p "$tools" &&
        cp "$here/package.json" "$here/package-lock.json" "$tools/" || exit 1
        echo "installing the grammar test tooling: npm ci in $tools"
        if ! (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error); then
            rm -rf "$tools/node_modules"
            echo "SKIPPED: npm ci failed (offline?); vscode-tmgrammar-test is not installed"
            exit 77
        fi
    fi
fi

rc=0
"$tools/node_modules/.bin/vscode-tmgrammar-test" \
    -g "$src/editors/vscode/syntaxes/exa.tmLanguage.json" \
    "$here"/*.test.exa || rc=1
node "$here/check-config.js" "$src" || rc=1
[ "$rc" -eq 0 ] || echo "vscode test failed"
exit "$rc"
