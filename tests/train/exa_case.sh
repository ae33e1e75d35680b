#!/bin/sh
# exa_case.sh - one training test through the real pipeline: compile a .exa
# program with the build's exac, run the executable, check the result.
#
#   sh exa_case.sh -e EXAC -s SRC -w WORKDIR [-p f32|f64] [-c 'AWK CONDITION']
#                  [-x STATUS] [-g REGEX] [-o REGEX] -- ARGS...
#
#   -c  a condition over the last JSON line of the log (--log is added), e.g.
#       'accuracy >= 0.85' or 'first_loss / loss >= 100' (first_X: the first
#       line's X); every number field of the line is an awk variable.
#   -x  the expected exit status of the executable (default 0)
#   -g  a regular expression its stderr must match (grep -E)
#   -o  a regular expression its stdout must match (grep -E)
#   -k  --checkpoint WORKDIR/NAME (emptied first)
#   -m  a command rank 0 runs after the run, in WORKDIR (e.g. a checkpoint
#       comparison); its failure fails the test
#
# Under mpirun every rank runs this script: each compiles its own copy of the
# executable (exac writes OUT and OUT.o, so the copies never collide) and runs
# it, so that the executables form one MPI job; rank 0 alone checks.
set -u
exac= src= work= prec=f32 cond= status=0 errre= outre= ckpt= post=
while [ $# -gt 0 ]; do
    case $1 in
    -e) exac=$2; shift 2 ;;
    -s) src=$2; shift 2 ;;
    -w) work=$2; shift 2 ;;
    -p) prec=$2; shift 2 ;;
    -c) cond=$2; shift 2 ;;
    -x) status=$2; shift 2 ;;
    -g) errre=$2; shift 2 ;;
    -o) outre=$2; shift 2 ;;
    -k) ckpt=$2; shift 2 ;;
    -m) post=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "exa_case.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
size=${OMPI_COMM_WORLD_SIZE:-${PMI_SIZE:-1}}
work=$work/np$size
mkdir -p "$work" || exit 1
bin=$work/prog.r$rank
log=$work/log.jsonl
[ "$rank" = 0 ] && rm -f "$log"
"$exac" "$src" -o "$bin" --precision="$prec" || { echo "FAIL: exac $src did not compile" >&2; exit 1; }
[ "$rank" = 0 ] && [ -n "$ckpt" ] && rm -rf "$work/$ckpt"
set -- --quiet --log "$log" ${ckpt:+--checkpoint "$work/$ckpt"} "$@"
"$bin" "$@" >"$work/out.r$rank" 2>"$work/err.r$rank"
rc=$?
[ "$rank" = 0 ] || exit 0
if [ -n "$post" ]; then
    echo "+ $post"
    (cd "$work" && eval "$post") || { echo "FAIL: $post" >&2; fail_post=1; }
fi
cat "$work/out.r0"
cat "$work/err.r0" >&2
fail=${fail_post:-0}
if [ "$rc" != "$status" ]; then
    echo "FAIL: exit status $rc, expected $status" >&2
    fail=1
fi
if [ -n "$errre" ] && ! grep -Eq -- "$errre" "$work/err.r0"; then
    echo "FAIL: stderr does not match /$errre/" >&2
    fail=1
fi
if [ -n "$outre" ] && ! grep -Eq -- "$outre" "$work/out.r0"; then
    echo "FAIL: stdout does not match /$outre/" >&2
    fail=1
fi
if [ -n "$cond" ]; then
    if [ ! -s "$log" ]; then
        echo "FAIL: no log lines in $log" >&2
        exit 1
    fi
    # Each "name":number of the first and last lines becomes an awk variable
    # (first_name for the first line); null (NaN/Inf) becomes "nan", so any
    # comparison with it is false.
    awk -v cond="$cond" '
        function fields(line, prefix,   n, i, kv, parts) {
            gsub(/[{}"]/, "", line)
            n = split(line, parts, ",")
            for (i = 1; i <= n; i++) {
                split(parts[i], kv, ":")
                v[prefix kv[1]] = kv[2]
            }
        }
        NR == 1 { fields($0, "first_") }
        { last = $0 }
        END {
            fields(last, "")
            printf "last log line: %s\n", last
            # evaluate the condition with a tiny expression reader: a op b
            # where a and b are products/quotients of names and numbers
            if (split(cond, t, " ") != 3 && split(cond, t, " ") != 5) { print "bad condition: " cond; exit 2 }
            n = split(cond, t, " ")
            if (n == 3) { a = val(t[1]); op = t[2]; b = val(t[3]) }
            else { a = val(t[1]); if (t[2] == "/") a = (val(t[3]) == 0 ? "nan" : a / val(t[3])); else a = a * val(t[3]); op = t[4]; b = val(t[5]) }
            if (a == "nan" || b == "nan") ok = 0
            else if (op == ">=") ok = (a + 0 >= b + 0)
            else if (op == "<=") ok = (a + 0 <= b + 0)
            else if (op == "<") ok = (a + 0 < b + 0)
            else if (op == ">") ok = (a + 0 > b + 0)
            else { print "bad operator " op; exit 2 }
            printf "check: %s  (%s %s %s): %s\n", cond, a, op, b, ok ? "ok" : "FAILED"
            exit ok ? 0 : 1
        }
        function val(s) {
            if (s ~ /^[-+0-9.eE]+$/) return s + 0
            if (!(s in v) || v[s] == "null") return "nan"
            return v[s] + 0
        }' "$log" || fail=1
fi
exit $fail
