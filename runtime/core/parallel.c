/* parallel.c - the worker pool of parallel.h.
 *
 * A loop publishes (fn, ctx, ntasks) under the mutex, bumps `generation` and
 * wakes the workers (they sleep on a condition variable: nothing spins, so
 * the pool never takes a core from OpenBLAS's threads or another process).
 * Every participant, the caller included, then claims task numbers from one
 * atomic word that holds the generation in its high half and the next task
 * in its low half, so a worker that wakes late can claim nothing of a loop
 * that has moved on.  The caller waits only for tasks that were claimed, not
 * for workers to wake: on a busy machine where a worker is not scheduled in
 * time the caller runs every task itself and goes on. */
#include "exa/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_int threads;  /* wanted, the caller included (read unlocked by exa_parallel_chunk) */
    int started;         /* workers 1 .. started are running */
    uint64_t generation; /* bumped by every loop */
    uint64_t born[EXA_MAX_THREADS]; /* the generation a worker was started in */
    int helpers;         /* workers 1 .. helpers take part in this loop */
    ExaTaskFn fn;
    void *ctx;
    int64_t ntasks;
    atomic_uint_fast64_t next;  /* generation << 32 | the next task number to hand out */
    atomic_int_fast64_t ndone;  /* tasks of this loop finished */
    void *scratch[EXA_MAX_THREADS];
    size_t scratch_len[EXA_MAX_THREADS];
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
           .done = PTHREAD_COND_INITIALIZER, .threads = 1 };

/* The worker number of this thread while it runs a task, else -1. */
static _Thread_local int current_worker = -1;

void exa_parallel_set_threads(int n)
{
    pthread_mutex_lock(&pool.mu);
    atomic_store(&pool.threads, n < 1 ? 1 : n > EXA_MAX_THREADS ? EXA_MAX_THREADS : n);
    pthread_mutex_unlock(&pool.mu);
}

int exa_parallel_threads(void)
{
    return atomic_load(&pool.threads);
}

/* Claims and runs tasks of loop `gen` (fn, ctx, ntasks) until none are left. */
static void take_tasks(int worker, uint32_t gen, ExaTaskFn fn, void *ctx, int64_t ntasks)
{
    current_worker = worker;
    uint_fast64_t cur = atomic_load(&pool.next);
    for (;;) {
        if ((uint32_t)(cur >> 32) != gen || (int64_t)(cur & 0xffffffffu) >= ntasks)
            break;
        if (!atomic_compare_exchange_weak(&pool.next, &cur, cur + 1))
            continue; /* cur is reloaded */
        fn(ctx, (int64_t)(cur & 0xffffffffu), worker);
        if (atomic_fetch_add(&pool.ndone, 1) + 1 == ntasks) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_broadcast(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
        cur = atomic_load(&pool.next);
    }
    current_worker = -1;
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.mu);
    /* not pool.generation: the loop that started this worker may have been
     * published before it got the mutex */
    uint64_t seen = pool.born[id];
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.wake, &pool.mu);
        seen = pool.generation;
        if (id > pool.helpers)
            continue;
        ExaTaskFn fn = pool.fn;
        void *ctx = pool.ctx;
        int64_t ntasks = pool.ntasks;
        pthread_mutex_unlock(&pool.mu);
        take_tasks(id, (uint32_t)seen, fn, ctx, ntasks);
        pthread_mutex_lock(&pool.mu);
    }
    return NULL;
}

static void run_here(int64_t ntasks, ExaTaskFn fn, void *ctx, int worker)
{
    int outer = current_worker;
    current_worker = worker;
    for (int64_t t = 0; t < ntasks; t++)
        fn(ctx, t, worker);
    current_worker = outer;
}

void exa_parallel_for(int64_t ntasks, ExaTaskFn fn, void *ctx)
{
    if (current_worker >= 0 || ntasks > 0x7fffffff) { /* inside a task, or too many to number */
        run_here(ntasks, fn, ctx, current_worker >= 0 ? current_worker : 0);
        return;
    }
    if (ntasks <= 0)
        return;
    pthread_mutex_lock(&pool.mu);
    int threads = atomic_load(&pool.threads);
    int helpers = (int)(ntasks < threads ? ntasks : threads) - 1;
    while (pool.started < helpers) { /* start the workers this loop needs */
        pthread_t tid;
        pthread_attr_t attr;
        pool.born[pool.started + 1] = pool.generation;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&tid, &attr, worker_main, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) /* no more threads: make do with those there are */
            break;
        pool.started++;
    }
    if (helpers > pool.started)
        helpers = pool.started;
    if (helpers <= 0) {
        pthread_mutex_unlock(&pool.mu);
        run_here(ntasks, fn, ctx, 0);
        return;
    }
    pool.fn = fn, pool.ctx = ctx, pool.ntasks = ntasks;
    pool.helpers = helpers;
    uint32_t gen = (uint32_t)++pool.generation;
    atomic_store(&pool.ndone, 0);
    atomic_store(&pool.next, (uint_fast64_t)gen << 32);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    take_tasks(0, gen, fn, ctx, ntasks);
    if (atomic_load(&pool.ndone) < ntasks) { /* tasks a worker claimed are still running */
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.ndone) < ntasks)
            pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}

void *exa_parallel_scratch(int worker, size_t bytes)
{
    if (worker < 0 || worker >= EXA_MAX_THREADS)
        return NULL;
    if (pool.scratch_len[worker] < bytes) { /* only `worker` touches its slot */
        size_t len = (bytes + 63) / 64 * 64;
        void *p = aligned_alloc(64, len);
        if (!p)
            return NULL;
        free(pool.scratch[worker]);
        pool.scratch[worker] = p, pool.scratch_len[worker] = len;
    }
    return pool.scratch[worker];
}

int64_t exa_parallel_chunk(int64_t n, int64_t work)
{
    int threads = atomic_load_explicit(&pool.threads, memory_order_relaxed);
    if (threads < 2 || current_worker >= 0 || n < 2 || (double)n * (double)work < EXA_PARALLEL_MIN_WORK)
        return n;
    int64_t per = (n + threads - 1) / threads;
    if (n >= 64 * (int64_t)threads) /* whole cache lines per task where the loop is long */
        per = (per + 15) / 16 * 16;
    return per < n ? per : n;
}

typedef struct RangeJob {
    ExaRangeFn f;
    const void *ctx;
    int64_t n, per;
} RangeJob;

static void range_task(void *ctx, int64_t t, int worker)
{
    (void)worker;
    const RangeJob *j = ctx;
    int64_t lo = t * j->per;
    j->f(j->ctx, lo, j->n - lo < j->per ? j->n - lo : j->per);
}

void exa_parallel_range(int64_t n, int64_t work, ExaRangeFn f, const void *ctx)
{
    int64_t per = exa_parallel_chunk(n, work);
    if (per >= n || per < 1) {
        if (n > 0)
            f(ctx, 0, n);
        return;
    }
    RangeJob j = { f, ctx, n, per };
    exa_parallel_for((n + per - 1) / per, range_task, &j);
}
