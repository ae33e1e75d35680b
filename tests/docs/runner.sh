#!/bin/sh
# runner.sh PYTHON DIR SCRATCH - doctest.py on its own examples: every session
# of runner_ok.md passes, and the drifted one of runner_drift.md fails with
# its line and a diff naming the expected and the actual line.
py=$1 here=$2 scratch=$3
"$py" "$here/doctest.py" --src "$here" --build "$here" --scratch "$scratch/ok" "$here/runner_ok.md" || {
    echo "FAIL: runner_ok.md did not pass"; exit 1; }
out=$("$py" "$here/doctest.py" --src "$here" --build "$here" --scratch "$scratch/drift" "$here/runner_drift.md")
rc=$?
printf '%s\n' "$out"
[ "$rc" = 1 ] || { echo "FAIL: a drifted output passed (status $rc)"; exit 1; }
for want in "FAIL runner_drift.md:4  \$ printf" "     -three" "     +two" "0 passed, 1 failed" "--update"; do
    case "$out" in
        *"$want"*) ;;
        *) echo "FAIL: the report lacks '$want'"; exit 1 ;;
    esac
done
echo "ok: runner_ok.md passed, runner_drift.md failed as it should"
