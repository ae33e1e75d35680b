# common.sh - the start every bench/*.sh shares; a script sources it right
# after `set -eu` and its own arguments (build=${1:-build} ...):
#
#     . "$(dirname "$0")/common.sh"
#
# -h or --help as the first argument prints the script's header comment (its
# usage line included) and exits.  Otherwise it checks that the build
# directory $build holds bin/exac, makes $build absolute and sets
#   here    this folder (absolute)       root    the repository (absolute)
#   exac    $build/bin/exac              work    a scratch folder, removed on exit
#   mpirun  mpirun --oversubscribe, and --allow-run-as-root when run as root
# and unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the script's own
# commands (some machines here set them, and they halve sgemm), so that
# OpenBLAS picks its kernels itself.  Tests and CI leave them alone.
#
# bench_one_thread pins one BLAS/OpenMP thread per process
# (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1), for the scripts that compare
# ranks on a small machine; they pass --threads 1 to exa themselves.

case ${1:-} in
-h | --help)
    # the comment block after the #! line, without its "# "
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
    exit 0 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ ! -x "$build/bin/exac" ]; then
    echo "$(basename "$0"): $build/bin/exac: no such executable (build exa first, or give the build directory: $(basename "$0") -h)" >&2
    exit 2
fi
build=$(cd "$build" && pwd) # absolute: a script may cd
exac=$build/bin/exac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
mpirun="mpirun --oversubscribe"
if [ "$(id -u)" = 0 ]; then mpirun="$mpirun --allow-run-as-root"; fi

bench_one_thread() {
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
}
