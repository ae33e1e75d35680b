/* parallel.h - the threads libexa's own kernels share a loop across.
 *
 * All of exa's work splits its rows over this pool: generated fused loops,
 * row-wise kernels, direct convolutions, exa's GEMMs, the optimiser steps,
 * and the products it gives OpenBLAS, which it holds at one thread
 * (exa_k_blas_gemm, exa_k_blas_hold_one).  `./train --threads N` sets it.  The pool is a fixed set of worker threads, started on first
 * use and kept: between loops a worker watches for the next one for
 * EXA_PARALLEL_SPIN_NS (yielding its core to any thread that wants it), then
 * sleeps on a condition variable, so back-to-back loops cost no wake-up and
 * an idle pool costs no core.  libexa starts loops from one thread, the
 * rank's; a loop started inside a task runs on that task's thread alone, as
 * worker 0 of a loop of its own (batch groups run a whole loss_grad as one
 * task, core/batch_groups.c). */
#ifndef EXA_PARALLEL_H
#define EXA_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

enum { EXA_MAX_THREADS = 64 };

/* How long a worker that finished its tasks watches for the next loop before
 * it sleeps, and the caller for a worker's last task before it sleeps (ns).
 * About what a loop's wake-ups cost (measured; parallel.c): where no loop
 * follows, spinning wastes no more than sleeping would have cost. */
enum { EXA_PARALLEL_SPIN_NS = 50000 };

/* Threads a loop uses, the caller included: clamped to 1 .. EXA_MAX_THREADS.
 * Before any call, the pool uses 1; inside a task exa_parallel_threads is 1
 * (a loop there runs on the task's thread). */
void exa_parallel_set_threads(int n);
int exa_parallel_threads(void);

/* Runs fn(ctx, t, worker) for t = 0 .. ntasks-1 and returns when all have
 * run.  Tasks are taken in order by whichever thread is free, so they must be
 * independent; worker (0 = the calling thread, then 1 .. threads-1) names the
 * thread a task runs on, for exa_parallel_scratch. */
typedef void (*ExaTaskFn)(void *ctx, int64_t task, int worker);
void exa_parallel_for(int64_t ntasks, ExaTaskFn fn, void *ctx);

/* For a loop of n independent iterations of `work` element operations each
 * (the fused elementwise loops the compiler generates, the row-wise kernels):
 * the iterations one task should take, or n when the loop is too small for
 * a second thread to pay for its wake-up (below EXA_PARALLEL_MIN_WORK
 * operations in all), when --threads is 1, or inside a task.  Tasks of whole
 * 16-iteration blocks where the loop is long, so that no two threads write
 * the same cache line of a row-major result. */
enum { EXA_PARALLEL_MIN_WORK = 1 << 16 };
int64_t exa_parallel_chunk(int64_t n, int64_t work);

/* Runs f(ctx, lo, count) over the iterations [0, n), each `work` element
 * operations: in tasks of exa_parallel_chunk(n, work) contiguous iterations,
 * or at once on this thread where that is n.  For loops whose iterations are
 * independent (rows of a kernel, coordinates of an optimiser step): each is
 * computed alike whatever the split, so results do not depend on --threads. */
typedef void (*ExaRangeFn)(const void *ctx, int64_t lo, int64_t count);
void exa_parallel_range(int64_t n, int64_t work, ExaRangeFn f, const void *ctx);

/* A background job: one worker runs fn(ctx) while the caller goes on (its
 * loops run on the threads left: a worker busy with the job takes no task
 * until it is done).  exa_parallel_async starts it where a worker can take
 * it (--threads >= 2, not inside a task, no other job waiting for a worker);
 * exa_parallel_wait returns once it has run, running it on the calling
 * thread if no worker took it (so at one thread the job runs there, when it
 * is waited for).  One thread starts and waits for a job; its struct must
 * live until the wait returns.  For work that may overlap a step's serial
 * stretch (the next mini-batch's gather, core/run_model.c). */
typedef struct ExaAsync {
    void (*fn)(void *ctx);
    void *ctx;
    int active;       /* started and not yet waited for (the caller's) */
    int published;    /* put in the pool's slot for a worker (the caller's) */
    _Atomic int done; /* set by the worker that ran it */
} ExaAsync;
void exa_parallel_async(ExaAsync *job, void (*fn)(void *ctx), void *ctx);
void exa_parallel_wait(ExaAsync *job);

/* A buffer of at least `bytes` owned by `worker`, kept and grown across
 * calls (aligned to 64 bytes); NULL when out of memory.  Worker 0's buffer
 * belongs to the thread that calls exa_parallel_for: inside a task, that
 * task's thread's own buffer, so that tasks running at once on different
 * threads never share one. */
void *exa_parallel_scratch(int worker, size_t bytes);

#endif
