/* parallel.c - the worker pool of parallel.h.
 *
 * A loop is published as a seqlock: the caller makes `seq` odd, stores
 * (fn, ctx, ntasks, helpers), then stores 2 * the loop's generation; a
 * worker that read the fields between two equal even values of `seq` has
 * one loop's.  Every participant, the caller included, then claims task
 * numbers from one atomic word that holds the generation in its high half
 * and the next task in its low half, so a worker that comes late can claim
 * nothing of a loop that has moved on.  The caller waits only for tasks
 * that were claimed, not for workers to arrive: on a busy machine where a
 * worker is not scheduled in time the caller runs every task itself and
 * goes on.
 *
 * Between loops a worker first watches `seq` for EXA_PARALLEL_SPIN_NS and
 * only then sleeps on a condition variable; the caller signals it only when
 * it sleeps.  A training step runs its loops back to back (the ODE net of
 * bench/models/c_peaks.exa: 137 split loops in a 5.5 ms step, most of them
 * 10-40 us), and with workers that slept between loops each loop paid a
 * futex wake-up of the worker and often one of the caller (the IPI to a
 * halted vCPU, the switch back): ~26 us a loop on the 2-core KVM machine
 * of docs/results/throughput.md, more than half such a loop, so a second
 * thread made c 0.73x slower.  The caller waits for a worker's last task
 * the same way (spin, then sleep on `done`; the worker signals it only when
 * it sleeps).
 *
 * The spin is bounded and yields.  It lasts at most EXA_PARALLEL_SPIN_NS,
 * about what a loop's wake-ups cost, so where no loop follows it wastes no
 * more than sleeping would have cost (the rent-or-buy bound); longer (200
 * us, measured) kept the worker on the second core through the serial
 * stretches of a backward pass where OpenBLAS's threaded GEMMs wanted it,
 * and made c slower (measured before exa_k_gemm kept c's small products
 * on one thread; docs/results/throughput.md).  Every ~2 us (32 pauses of ~55 ns) it calls
 * sched_yield, which returns at once when nothing else wants the core and
 * hands the core over when something does (another process; OpenBLAS's
 * threads did too before libexa held OpenBLAS at one thread, kernels.c):
 * the pool never holds a core against a runnable thread for longer than
 * that.
 *
 * A background job (exa_parallel_async) waits in its own slot, `bg`, which
 * an idle worker checks with `seq`: whoever takes the job out of the slot
 * (a worker, or the caller's exa_parallel_wait) runs it, so it runs once.
 * Loops published meanwhile run without that worker until it is done (it
 * takes their tasks only after), on the caller and any other worker. */
#define _GNU_SOURCE /* sched_yield is POSIX, but glibc hides it under -std=c17 */
#include "exa/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t mu; /* held to go to sleep, to signal a sleeper and to start workers */
    pthread_cond_t wake, done;
    atomic_int threads;  /* wanted, the caller included (read unlocked by exa_parallel_chunk) */
    int started;         /* workers 1 .. started are running (the caller's) */
    uint64_t generation; /* bumped by every loop (the caller's) */
    uint64_t born[EXA_MAX_THREADS]; /* the seq a worker was started at */
    /* the loop being run: fields written between an odd and an even seq */
    atomic_uint_fast64_t seq;
    _Atomic(ExaTaskFn) fn;
    _Atomic(void *) ctx;
    atomic_int_fast64_t ntasks;
    atomic_int helpers; /* workers 1 .. helpers take part */
    atomic_uint_fast64_t next;  /* generation << 32 | the next task number to hand out */
    atomic_int_fast64_t ndone;  /* tasks of this loop finished */
    _Atomic(ExaAsync *) bg;     /* a background job no one has taken yet */
    atomic_int sleepers;        /* workers asleep (or going to sleep) on `wake` */
    atomic_int caller_asleep;   /* the caller asleep (or going to sleep) on `done` */
    void *scratch[EXA_MAX_THREADS];
    size_t scratch_len[EXA_MAX_THREADS];
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
           .done = PTHREAD_COND_INITIALIZER, .threads = 1 };

/* The worker number of this thread while it runs a task, else -1. */
static _Thread_local int current_worker = -1;
/* The scratch slot that is this thread's own: its worker number for a
 * pool worker, 0 for the thread that starts loops.  A loop started inside
 * a task (a batch group's whole loss_grad on a worker, core/batch_groups.c)
 * runs on that task's thread as worker 0 of a loop of its own, so its
 * "worker 0" scratch must be that thread's slot, not the rank thread's,
 * which may be in use by another group at the same time. */
static _Thread_local int own_slot = 0;

void exa_parallel_set_threads(int n)
{
    atomic_store(&pool.threads, n < 1 ? 1 : n > EXA_MAX_THREADS ? EXA_MAX_THREADS : n);
}

int exa_parallel_threads(void)
{
    /* inside a task a loop runs on that task's thread alone */
    return current_worker >= 0 ? 1 : atomic_load(&pool.threads);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One turn of a bounded spin (round counts the turns, from 0): 0 once
 * EXA_PARALLEL_SPIN_NS have passed since turn 0. */
static int spin(unsigned *round, int64_t *until)
{
    if ((*round)++ == 0) {
        *until = now_ns() + EXA_PARALLEL_SPIN_NS;
        return 1;
    }
    for (int i = 0; i < 8; i++)
        cpu_relax();
    if (*round % 4 == 0) { /* about every 2 us */
        if (now_ns() >= *until)
            return 0;
        sched_yield();
    }
    return 1;
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
        /* seq_cst, as the caller's store to caller_asleep and load of ndone:
         * either the caller sees this task done or this sees it asleep */
        if (atomic_fetch_add(&pool.ndone, 1) + 1 == ntasks && atomic_load(&pool.caller_asleep)) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_broadcast(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
        cur = atomic_load(&pool.next);
    }
    current_worker = -1;
}

/* Takes the background job out of its slot and runs it as `worker`: 1 if
 * there was one. */
static int run_bg(int worker)
{
    ExaAsync *job = atomic_load(&pool.bg);
    if (!job || !atomic_compare_exchange_strong(&pool.bg, &job, NULL))
        return 0;
    current_worker = worker;
    job->fn(job->ctx);
    current_worker = -1;
    atomic_store(&job->done, 1); /* the last touch: the caller may reuse it */
    return 1;
}

/* The seq of the next loop published after `seen` (even): spins on it for a
 * while, then sleeps until the caller signals.  Meanwhile it runs a
 * background job that waits for a worker. */
static uint64_t next_loop(uint64_t seen, int worker)
{
    for (;;) {
        unsigned round = 0;
        int64_t until = 0;
        do {
            /* the job first: it was started to run beside the loops the
             * caller publishes next (they go on without this worker) */
            if (run_bg(worker))
                round = 0; /* spin afresh after it */
            uint64_t s = atomic_load_explicit(&pool.seq, memory_order_acquire);
            if (s != seen && !(s & 1))
                return s;
        } while (spin(&round, &until));
        pthread_mutex_lock(&pool.mu);
        /* seq_cst, as the caller's store to seq (or bg) and load of
         * sleepers: either the caller sees this worker asleep and signals,
         * or this sees the new seq (or job) */
        atomic_fetch_add(&pool.sleepers, 1);
        while (atomic_load(&pool.seq) == seen && !atomic_load(&pool.bg))
            pthread_cond_wait(&pool.wake, &pool.mu);
        atomic_fetch_sub(&pool.sleepers, 1);
        pthread_mutex_unlock(&pool.mu);
        /* odd: the caller is still writing the loop; spin again */
    }
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    own_slot = id;
    /* not the current seq: the loop that started this worker may have been
     * published before it got here */
    uint64_t seen = pool.born[id];
    for (;;) {
        uint64_t s = next_loop(seen, id);
        ExaTaskFn fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        int64_t ntasks = atomic_load_explicit(&pool.ntasks, memory_order_relaxed);
        int helpers = atomic_load_explicit(&pool.helpers, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        seen = s;
        /* changed: loop s is over (the caller publishes the next one only
         * when every task of this one is done), and the fields may be the
         * next one's */
        if (atomic_load_explicit(&pool.seq, memory_order_relaxed) != s || id > helpers)
            continue;
        take_tasks(id, (uint32_t)(s >> 1), fn, ctx, ntasks);
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

/* Starts workers until `want` run (fewer if the system has no more threads);
 * how many run. */
static int start_workers(int want)
{
    pthread_mutex_lock(&pool.mu);
    while (pool.started < want) {
        pthread_t tid;
        pthread_attr_t attr;
        pool.born[pool.started + 1] = atomic_load(&pool.seq);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&tid, &attr, worker_main, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) /* no more threads: make do with those there are */
            break;
        pool.started++;
    }
    int started = pool.started;
    pthread_mutex_unlock(&pool.mu);
    return started;
}

void exa_parallel_for(int64_t ntasks, ExaTaskFn fn, void *ctx)
{
    if (current_worker >= 0 || ntasks > 0x7fffffff) { /* inside a task, or too many to number */
        run_here(ntasks, fn, ctx, 0); /* this thread is worker 0 of the loop (own_slot) */
        return;
    }
    if (ntasks <= 0)
        return;
    int threads = atomic_load(&pool.threads);
    int helpers = (int)(ntasks < threads ? ntasks : threads) - 1;
    if (helpers > pool.started) {
        int running = start_workers(helpers);
        if (helpers > running)
            helpers = running;
    }
    if (helpers <= 0) {
        run_here(ntasks, fn, ctx, 0);
        return;
    }
    uint64_t gen = ++pool.generation;
    atomic_store_explicit(&pool.seq, 2 * gen - 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.ntasks, ntasks, memory_order_relaxed);
    atomic_store_explicit(&pool.helpers, helpers, memory_order_relaxed);
    atomic_store_explicit(&pool.ndone, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.next, (uint_fast64_t)(uint32_t)gen << 32, memory_order_relaxed);
    atomic_store(&pool.seq, 2 * gen); /* seq_cst: see next_loop */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.mu);
    }
    take_tasks(0, (uint32_t)gen, fn, ctx, ntasks);
    /* tasks a worker claimed may still run: spin a while, then sleep */
    unsigned round = 0;
    int64_t until = 0;
    while (atomic_load(&pool.ndone) < ntasks)
        if (!spin(&round, &until)) {
            pthread_mutex_lock(&pool.mu);
            atomic_store(&pool.caller_asleep, 1); /* seq_cst: see take_tasks */
            while (atomic_load(&pool.ndone) < ntasks)
                pthread_cond_wait(&pool.done, &pool.mu);
            atomic_store(&pool.caller_asleep, 0);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
}

void exa_parallel_async(ExaAsync *job, void (*fn)(void *ctx), void *ctx)
{
    job->fn = fn, job->ctx = ctx, job->active = 1, job->published = 0;
    atomic_store(&job->done, 0);
    if (current_worker >= 0 || atomic_load(&pool.threads) < 2 || (pool.started < 1 && start_workers(1) < 1))
        return; /* exa_parallel_wait runs it */
    ExaAsync *none = NULL;
    if (!atomic_compare_exchange_strong(&pool.bg, &none, job)) /* seq_cst: see next_loop */
        return; /* another job waits for a worker: this one runs at its wait */
    job->published = 1;
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.mu);
    }
}

void exa_parallel_wait(ExaAsync *job)
{
    if (!job->active)
        return;
    job->active = 0;
    ExaAsync *mine = job;
    /* never put in the slot, or still there (no worker took it): run it here */
    if (!job->published || atomic_compare_exchange_strong(&pool.bg, &mine, NULL)) {
        job->fn(job->ctx);
        return;
    }
    unsigned round = 0; /* a worker runs it: spin, yielding the core to it */
    while (!atomic_load(&job->done))
        if (++round % 32 == 0)
            sched_yield();
        else
            cpu_relax();
}

void *exa_parallel_scratch(int worker, size_t bytes)
{
    if (worker < 0 || worker >= EXA_MAX_THREADS)
        return NULL;
    if (worker == 0) /* the thread that runs the loop: inside a task, that task's */
        worker = own_slot;
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
