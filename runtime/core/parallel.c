/* parallel.c - the worker pool of parallel.h.
 *
 * A loop publishes (fn, ctx, ntasks) under the mutex, bumps `generation` and
 * wakes the workers; every participant, the caller included, then takes task
 * numbers from one atomic counter until they run out, and the caller sleeps
 * until the last worker reports done.  Workers beyond a loop's need (fewer
 * tasks than threads) see the new generation and go back to sleep. */
#include "exa/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int threads;         /* wanted, the caller included */
    int started;         /* workers 1 .. started are running */
    uint64_t generation; /* bumped by every loop */
    uint64_t born[EXA_MAX_THREADS]; /* the generation a worker was started in */
    int helpers;         /* workers 1 .. helpers take part in this loop */
    int pending;         /* helpers not yet done with it */
    ExaTaskFn fn;
    void *ctx;
    int64_t ntasks;
    atomic_int_fast64_t next; /* the next task number to hand out */
    void *scratch[EXA_MAX_THREADS];
    size_t scratch_len[EXA_MAX_THREADS];
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
           .done = PTHREAD_COND_INITIALIZER, .threads = 1 };

/* The worker number of this thread while it runs a task, else -1. */
static _Thread_local int current_worker = -1;

void exa_parallel_set_threads(int n)
{
    pthread_mutex_lock(&pool.mu);
    pool.threads = n < 1 ? 1 : n > EXA_MAX_THREADS ? EXA_MAX_THREADS : n;
    pthread_mutex_unlock(&pool.mu);
}

int exa_parallel_threads(void)
{
    pthread_mutex_lock(&pool.mu);
    int n = pool.threads;
    pthread_mutex_unlock(&pool.mu);
    return n;
}

static void take_tasks(int worker)
{
    current_worker = worker;
    for (;;) {
        int64_t t = atomic_fetch_add(&pool.next, 1);
        if (t >= pool.ntasks)
            break;
        pool.fn(pool.ctx, t, worker);
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
        pthread_mutex_unlock(&pool.mu);
        take_tasks(id);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

void exa_parallel_for(int64_t ntasks, ExaTaskFn fn, void *ctx)
{
    if (current_worker >= 0) { /* inside a task: this thread alone */
        for (int64_t t = 0; t < ntasks; t++)
            fn(ctx, t, current_worker);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    int helpers = (int)(ntasks < pool.threads ? ntasks : pool.threads) - 1;
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
        current_worker = 0;
        for (int64_t t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        current_worker = -1;
        return;
    }
    pool.fn = fn, pool.ctx = ctx, pool.ntasks = ntasks;
    atomic_store(&pool.next, 0);
    pool.helpers = helpers, pool.pending = helpers;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    take_tasks(0);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
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
