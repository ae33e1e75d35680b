#!/bin/sh
# words.sh PLAN LOG PR PC - the words a run's collectives moved per rank and
# gradient (its log's last line: words_rows, and words_cols in a grid; 0
# when absent) against the cost model's words(rows) and words(cols) for the
# PR x PC grid in PLAN (--grid-plan's table, written by plan.sh): they must
# agree to 1e-6 relative.  The table counts the path that runs (owned rows:
# no all-gather of dW), so the dW all-gather coming back fails this.
plan=$1 log=$2 pr=$3 pc=$4
line=$(tail -n 1 "$log")
field() {
    v=$(printf '%s\n' "$line" | sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p")
    echo "${v:-0}"
}
run_rows=$(field words_rows) run_cols=$(field words_cols)
pred=$(awk -v pr="$pr" -v pc="$pc" '/^ [* ] +[0-9]+ x/ {
           line = $0; sub(/^ [* ] */, "", line); split(line, f, " +")
           if (f[1] == pr && f[3] == pc) print f[5], f[6] }' "$plan")
if [ -z "$pred" ]; then
    echo "words.sh: no $pr x $pc row in $plan" >&2
    exit 1
fi
set -- $pred
echo "words per rank and gradient: run rows $run_rows cols $run_cols; model rows $1 cols $2"
awk -v a="$run_rows" -v b="$1" -v c="$run_cols" -v d="$2" 'function off(x, y) { return (x - y < 0 ? y - x : x - y) > 1e-6 * (y < 0 ? -y : y) + 1e-9 }
    BEGIN { exit off(a, b) || off(c, d) }' || { echo "words.sh: the run's words differ from the model's" >&2; exit 1; }
