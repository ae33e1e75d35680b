/* main.c - the entry point of every training executable.
 *
 * exac's object file provides the descriptor (exa_program) and the generated
 * functions (exa_functions); this reads the one, checks the flags, starts MPI
 * and hands over to the trainer.  Exit status: 0 trained, 1 a run-time error,
 * 2 a bad flag, 3 stopped on a NaN or Inf loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/gpu_train.h"
#include "exa/kernels.h"
#include "exa/parallel.h"
#include "exa/run.h"

extern const char exa_program[];
extern const ExaFunction exa_functions[];

/* OpenBLAS's own calls, declared here to keep cblas.h out of this file. */
int openblas_get_num_threads(void);

int main(int argc, char **argv)
{
    static ExaProgram prog;
    char err[1024];
    int prc = exa_program_parse(exa_program, &prog, err, sizeof err);
    if (prc == EXA_PROGRAM_ABI_MISMATCH) {
        fprintf(stderr, "exa: %s: %s\n", argv[0], err);
        return 1;
    }
    if (prc != 0) {
        fprintf(stderr, "exa: %s: its program descriptor is damaged: %s\n", argv[0], err);
        return 1;
    }
    ExaRun *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    r->prog = &prog;
    r->fns = exa_functions;
    int rc = exa_options_parse(argc, argv, &prog, &r->opt);
    if (rc != 0) {
        exa_program_free(&prog);
        free(r);
        return rc == 1 ? 0 : rc;
    }
    if (r->opt.decompose && exa_decompose_choose(&prog, r->opt.decompose, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exa_program_free(&prog);
        free(r);
        return 2;
    }
    if (r->opt.describe) {
        fputs(exa_program, stdout);
        exa_program_free(&prog);
        free(r);
        return 0;
    }
    /* --threads sets exa's threads; without it, OpenBLAS's default
     * (OPENBLAS_NUM_THREADS, else a thread a core).  OpenBLAS itself runs on
     * one: exa splits the products it gives it (kernels.c says why). */
    exa_parallel_set_threads(r->opt.threads > 0 ? r->opt.threads : openblas_get_num_threads());
    exa_k_blas_hold_one();
    if (exa_comm_init(&argc, &argv, 600, &r->world) != 0)
        return 1;
    r->world.seconds = &r->comm_seconds;
    /* --device gpu: one GPU per rank, by its place on its node; a rank that
     * cannot have one stops them all (its line says why) */
    if (strcmp(r->opt.device, "gpu") == 0 && !(r->gpu = exa_gpu_run_open(r, err, sizeof err))) {
        fprintf(stderr, "exa: rank %d: --device gpu: %s\n", r->world.rank, err);
        exa_program_free(&prog);
        free(r);
        exa_comm_finalize();
        return 1;
    }
    rc = r->opt.grid_plan > 0 ? exa_grid_plan(r, r->opt.grid_plan) : exa_train(r);
    exa_gpu_run_close(r->gpu);
    exa_run_free(r);
    exa_program_free(&prog);
    free(r);
    exa_comm_finalize();
    return rc;
}
