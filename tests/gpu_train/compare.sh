#!/bin/sh
# compare.sh - training on the emulated GPU (exa/gpu_emu.h) against a
# reference run: every epoch's training loss, and its validation loss when
# there is a validation set (evaluation reads what training left, e.g. batch
# norm's running statistics), must agree to a relative TOL.
#
#   sh compare.sh -e EXAC -s SRC -w WORKDIR [-p f64] [-t TOL] [-r REF_NP]
#                 [-g GPU_NP] [-l LAUNCHER] [-E VAR=VALUE] [-o REGEX] [-x REGEX] [-D] [-R]
#                 -- ARGS...
#
# The reference runs with --device cpu on REF_NP ranks (default 1), the GPU
# run with --device gpu (-D: without the flag, so the train block's device
# setting decides) on GPU_NP ranks under EXA_GPU_EMULATE=GPU_NP and any -E
# variables; more than one rank runs under LAUNCHER (mpirun and its flags).
# The GPU run's stdout must match REGEX (default: it names the emulated GPU,
# so a run that silently stayed on the CPU fails), and must not match -x's
# REGEX (e.g. NCCL falling back to MPI).  -R: a real GPU, no
# emulation (bench/gpu_check.sh; the default REGEX is then ", on ").
set -u
exac= src= work= prec=f64 tol=1e-10 refnp=1 gpunp=1 launcher= env= outre='on emulated GPU' notre= flag='--device gpu' real=
while [ $# -gt 0 ]; do
    case $1 in
    -e) exac=$2; shift 2 ;;
    -s) src=$2; shift 2 ;;
    -w) work=$2; shift 2 ;;
    -p) prec=$2; shift 2 ;;
    -t) tol=$2; shift 2 ;;
    -r) refnp=$2; shift 2 ;;
    -g) gpunp=$2; shift 2 ;;
    -l) launcher=$2; shift 2 ;;
    -E) env="$env $2"; shift 2 ;;
    -o) outre=$2; shift 2 ;;
    -x) notre=$2; shift 2 ;;
    -D) flag=; shift ;;
    -R) real=1; shift ;;
    --) shift; break ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
rm -rf "$work" && mkdir -p "$work" || exit 1
bin=$work/prog
"$exac" "$src" -o "$bin" --precision="$prec" || { echo "FAIL: exac $src did not compile" >&2; exit 1; }
launch() {
    n=$1; shift
    if [ "$n" -gt 1 ]; then $launcher -np "$n" "$@"; else "$@"; fi
}
echo "+ prog --device cpu $* (np $refnp)"
launch "$refnp" "$bin" --device cpu --quiet --log "$work/cpu.jsonl" "$@" >"$work/cpu.out" 2>&1 ||
    { cat "$work/cpu.out"; echo "FAIL: the CPU run failed" >&2; exit 1; }
echo "+ ${real:+(real GPU) }EXA_GPU_EMULATE=${real:-$gpunp}$env prog $flag $* (np $gpunp)"
if [ -n "$real" ]; then
    unset EXA_GPU_EMULATE
    [ "$outre" = 'on emulated GPU' ] && outre=', on '
else
    export EXA_GPU_EMULATE="$gpunp"
fi
for v in $env; do export "${v?}"; done
# shellcheck disable=SC2086
launch "$gpunp" "$bin" $flag --log "$work/gpu.jsonl" "$@" >"$work/gpu.out" 2>&1
rc=$?
cat "$work/gpu.out"
[ "$rc" = 0 ] || { echo "FAIL: the GPU run exited with $rc" >&2; exit 1; }
grep -Eq "$outre" "$work/gpu.out" || { echo "FAIL: the GPU run's output does not match '$outre'" >&2; exit 1; }
if [ -n "$notre" ] && grep -Eq "$notre" "$work/gpu.out"; then
    echo "FAIL: the GPU run's output matches '$notre'" >&2; exit 1
fi
# the epochs' losses side by side
loss() {
    sed -n 's/.*"loss":\([^,]*\),.*/\1/p' "$1"
    sed -n 's/.*"validation_loss":\([^,}]*\).*/\1/p' "$1"
}
loss "$work/cpu.jsonl" >"$work/cpu.loss"
loss "$work/gpu.jsonl" >"$work/gpu.loss"
paste "$work/cpu.loss" "$work/gpu.loss" | awk -v tol="$tol" '
    { d = $1 - $2; d = d < 0 ? -d : d; s = $1 < 0 ? -$1 : $1; rel = s > 0 ? d / s : d
      printf "value %d: cpu %.17g gpu %.17g rel %.3g\n", NR, $1, $2, rel
      if (!(rel <= tol) || $2 == "") bad = 1 }
    END { if (NR == 0) { print "FAIL: no epochs logged"; exit 1 }
          if (bad) { printf "FAIL: relative difference above %g\n", tol; exit 1 }
          printf "ok: %d value(s) (losses, then validation losses) within %g\n", NR, tol }'
