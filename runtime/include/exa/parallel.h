/* parallel.h - the threads libexa's own kernels share a loop across.
 *
 * OpenBLAS threads its GEMMs itself; the kernels exa writes (the direct
 * convolutions) split their samples over this pool.  `./train --threads N`
 * sets both.  The pool is a fixed set of worker threads, started on first
 * use and kept (they sleep on a condition variable between loops), so a loop
 * costs a wake-up, not a thread creation.  libexa starts loops from one
 * thread, the rank's; a loop started inside a task runs on that task's
 * thread alone. */
#ifndef EXA_PARALLEL_H
#define EXA_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

enum { EXA_MAX_THREADS = 64 };

/* Threads a loop uses, the caller included: clamped to 1 .. EXA_MAX_THREADS.
 * Before any call, the pool uses 1. */
void exa_parallel_set_threads(int n);
int exa_parallel_threads(void);

/* Runs fn(ctx, t, worker) for t = 0 .. ntasks-1 and returns when all have
 * run.  Tasks are taken in order by whichever thread is free, so they must be
 * independent; worker (0 = the calling thread, then 1 .. threads-1) names the
 * thread a task runs on, for exa_parallel_scratch. */
typedef void (*ExaTaskFn)(void *ctx, int64_t task, int worker);
void exa_parallel_for(int64_t ntasks, ExaTaskFn fn, void *ctx);

/* A buffer of at least `bytes` owned by `worker`, kept and grown across
 * calls (aligned to 64 bytes); NULL when out of memory.  Worker 0's buffer
 * belongs to the thread that calls exa_parallel_for. */
void *exa_parallel_scratch(int worker, size_t bytes);

#endif
