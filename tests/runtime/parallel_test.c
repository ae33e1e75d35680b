/* parallel_test.c - the worker pool: every task runs exactly once on a
 * worker number below the thread count, for task counts below, at and far
 * above it and across many loops in a row (a worker that missed a wake-up
 * or ran a loop twice shows here); a loop inside a task runs on that task's
 * thread; set_threads clamps; scratch grows, stays and is aligned;
 * exa_parallel_chunk keeps small loops whole and cuts long ones into
 * 16-iteration blocks, one per thread, and exa_parallel_range covers every
 * iteration once.  The spin-then-sleep hand-over: a worker joins loops that
 * follow each other at once (it spins) and loops that come after it went to
 * sleep (it is woken: a lost wake-up leaves the caller alone and fails), and
 * a caller that went to sleep waiting for a worker's long task is woken (a
 * lost wake-up hangs until the test's timeout).  Background jobs: below. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "exa/parallel.h"

enum { MAX_TASKS = 1000 };

typedef struct Loop {
    atomic_int runs[MAX_TASKS];
    atomic_int bad_worker;
    int threads;
} Loop;

static void count_task(void *ctx, int64_t t, int worker)
{
    Loop *l = ctx;
    atomic_fetch_add(&l->runs[t], 1);
    if (worker < 0 || worker >= l->threads)
        atomic_fetch_add(&l->bad_worker, 1);
}

static void each_task_once(int threads)
{
    exa_parallel_set_threads(threads);
    CHECK(exa_parallel_threads() == threads);
    static const int64_t counts[] = { 0, 1, 2, 3, 7, 64, MAX_TASKS };
    for (int rep = 0; rep < 50; rep++)
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
            static Loop l;
            for (int t = 0; t < MAX_TASKS; t++)
                atomic_store(&l.runs[t], 0);
            atomic_store(&l.bad_worker, 0);
            l.threads = threads;
            exa_parallel_for(counts[i], count_task, &l);
            int wrong = 0;
            for (int64_t t = 0; t < MAX_TASKS; t++)
                wrong += atomic_load(&l.runs[t]) != (t < counts[i]);
            CHECK(wrong == 0);
            CHECK(atomic_load(&l.bad_worker) == 0);
        }
}

/* A loop inside a task runs on the task's thread as worker 0 of its own
 * loop, sees one thread, and its worker-0 scratch is the task thread's own
 * buffer (the one the outer task gets as its worker's): two outer tasks
 * running at once on different threads never share one (batch groups). */
typedef struct Nested {
    atomic_int inner_runs, inner_elsewhere, inner_not_0, bad_scratch, bad_threads;
} Nested;

static _Thread_local int in_outer = 0;
static _Thread_local void *outer_scratch = NULL;

static void inner_task(void *ctx, int64_t t, int worker)
{
    Nested *n = ctx;
    (void)t;
    atomic_fetch_add(&n->inner_runs, 1);
    if (!in_outer) /* the thread-local is set on the outer task's thread only */
        atomic_fetch_add(&n->inner_elsewhere, 1);
    if (worker != 0)
        atomic_fetch_add(&n->inner_not_0, 1);
    if (exa_parallel_scratch(worker, 256) != outer_scratch)
        atomic_fetch_add(&n->bad_scratch, 1);
}

static void outer_task(void *ctx, int64_t t, int worker)
{
    Nested *n = ctx;
    (void)t;
    in_outer = 1;
    outer_scratch = exa_parallel_scratch(worker, 256);
    if (exa_parallel_scratch(0, 256) != outer_scratch || exa_parallel_threads() != 1)
        atomic_fetch_add(&n->bad_threads, 1);
    exa_parallel_for(5, inner_task, ctx);
    in_outer = 0;
}

static void nested_loops(void)
{
    exa_parallel_set_threads(3);
    Nested n = { 0 };
    exa_parallel_for(8, outer_task, &n);
    CHECK(atomic_load(&n.inner_runs) == 40);
    CHECK(atomic_load(&n.inner_elsewhere) == 0);
    CHECK(atomic_load(&n.inner_not_0) == 0);
    CHECK(atomic_load(&n.bad_scratch) == 0);
    CHECK(atomic_load(&n.bad_threads) == 0);
    CHECK(exa_parallel_threads() == 3); /* outside a task: the pool's */
}

static void clamps_and_scratch(void)
{
    exa_parallel_set_threads(0);
    CHECK(exa_parallel_threads() == 1);
    exa_parallel_set_threads(1000);
    CHECK(exa_parallel_threads() == EXA_MAX_THREADS);
    char *a = exa_parallel_scratch(1, 100);
    CHECK(a && (uintptr_t)a % 64 == 0);
    a[99] = 1;
    CHECK(exa_parallel_scratch(1, 50) == a); /* kept while large enough */
    char *b = exa_parallel_scratch(1, 1 << 20);
    CHECK(b && (uintptr_t)b % 64 == 0);
    b[(1 << 20) - 1] = 1;
    CHECK(exa_parallel_scratch(-1, 8) == NULL && exa_parallel_scratch(EXA_MAX_THREADS, 8) == NULL);
}

typedef struct Range {
    atomic_int hits[40000];
    atomic_int calls;
} Range;

static void range_part(const void *ctx, int64_t lo, int64_t count)
{
    Range *r = (Range *)ctx;
    atomic_fetch_add(&r->calls, 1);
    for (int64_t i = lo; i < lo + count; i++)
        atomic_fetch_add(&r->hits[i], 1);
}

static void chunks_and_ranges(void)
{
    exa_parallel_set_threads(1);
    CHECK(exa_parallel_chunk(40000, 100) == 40000); /* one thread: whole */
    exa_parallel_set_threads(3);
    CHECK(exa_parallel_chunk(100, 10) == 100);      /* 1000 operations: whole */
    CHECK(exa_parallel_chunk(1, 1 << 20) == 1);
    int64_t per = exa_parallel_chunk(40000, 10);     /* 400k operations: split */
    CHECK(per == 13344);                             /* ceil(40000 / 3) up to 16s */
    static Range r;
    for (int n = 0; n < 2; n++) {
        int64_t len = n ? 40000 : 1001;
        memset(&r, 0, sizeof r);
        exa_parallel_range(len, 100, range_part, &r);
        int bad = 0;
        for (int64_t i = 0; i < 40000; i++)
            bad += atomic_load(&r.hits[i]) != (i < len);
        CHECK(bad == 0);
        CHECK(atomic_load(&r.calls) == 3);
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ns(long ns)
{
    struct timespec t = { ns / 1000000000, ns % 1000000000 };
    nanosleep(&t, NULL);
}

/* Two tasks that each wait (up to 10 s, far beyond any scheduling delay)
 * until both have started: they meet only when two threads run them. */
typedef struct Meet {
    atomic_int arrived, worker_mask;
    long worker_hold_ns; /* how long the task on a worker then keeps going */
} Meet;

static void meet_task(void *ctx, int64_t t, int worker)
{
    Meet *m = ctx;
    (void)t;
    atomic_fetch_or(&m->worker_mask, 1 << worker);
    atomic_fetch_add(&m->arrived, 1);
    double end = now_s() + 10;
    while (atomic_load(&m->arrived) < 2 && now_s() < end)
        ;
    if (worker != 0 && m->worker_hold_ns > 0)
        sleep_ns(m->worker_hold_ns);
}

/* Rounds where the worker must take part: `gap_ns` before each loop (0:
 * back to back, the worker is spinning; several spins: it is asleep), and
 * the worker's task outlasting the caller's spin when `hold` is set. */
static void worker_joins(long gap_ns, int hold)
{
    exa_parallel_set_threads(2);
    int joined = 0, rounds = 20;
    for (int r = 0; r < rounds; r++) {
        if (gap_ns > 0)
            sleep_ns(gap_ns);
        Meet m = { .worker_hold_ns = hold ? 3L * EXA_PARALLEL_SPIN_NS : 0 };
        exa_parallel_for(2, meet_task, &m);
        if (atomic_load(&m.worker_mask) != 3 || atomic_load(&m.arrived) != 2)
            break; /* the caller ran both: 10 s each round from here */
        joined++;
    }
    CHECK(joined == rounds);
}

/* Background jobs (exa_parallel_async): each runs exactly once; at one
 * thread on the caller, at its wait; at two on the worker, woken from its
 * sleep or spinning, while the caller's loops go on without it (the job
 * holds the worker until the caller's loop is over: a loop that waited for
 * the busy worker would hang here until the test's timeout); a second job
 * started while the first runs runs too, once. */
typedef struct Bg {
    atomic_int runs, started, release;
    pthread_t thread;
} Bg;

static void bg_job(void *ctx)
{
    Bg *b = ctx;
    b->thread = pthread_self();
    atomic_fetch_add(&b->runs, 1);
    atomic_store(&b->started, 1);
    double end = now_s() + 10;
    while (!atomic_load(&b->release) && now_s() < end)
        ;
}

static void background_jobs(void)
{
    exa_parallel_set_threads(1);
    Bg one = { 0 };
    atomic_store(&one.release, 1);
    ExaAsync job = { 0 };
    exa_parallel_wait(&job); /* never started: returns */
    exa_parallel_async(&job, bg_job, &one);
    CHECK(atomic_load(&one.runs) == 0); /* not yet: at its wait */
    exa_parallel_wait(&job);
    CHECK(atomic_load(&one.runs) == 1 && pthread_equal(one.thread, pthread_self()));
    exa_parallel_wait(&job); /* waited for already: nothing */
    CHECK(atomic_load(&one.runs) == 1);

    exa_parallel_set_threads(2);
    int on_worker = 0, rounds = 10;
    for (int r = 0; r < rounds; r++) {
        if (r % 2)
            sleep_ns(4L * EXA_PARALLEL_SPIN_NS); /* the worker asleep */
        Bg b = { 0 }, b2 = { 0 };
        atomic_store(&b2.release, 1);
        ExaAsync j2 = { 0 };
        exa_parallel_async(&job, bg_job, &b);
        double end = now_s() + 10;
        while (!atomic_load(&b.started) && now_s() < end)
            ;
        exa_parallel_async(&j2, bg_job, &b2); /* the worker is busy with b */
        Loop l = { .threads = 2 };
        exa_parallel_for(8, count_task, &l); /* without the worker */
        int once = 1;
        for (int t = 0; t < 8; t++)
            once &= atomic_load(&l.runs[t]) == 1;
        CHECK(once);
        atomic_store(&b.release, 1);
        exa_parallel_wait(&job);
        exa_parallel_wait(&j2);
        CHECK(atomic_load(&b.runs) == 1 && atomic_load(&b2.runs) == 1);
        on_worker += atomic_load(&b.started) && !pthread_equal(b.thread, pthread_self());
    }
    CHECK(on_worker == rounds);
}

int main(void)
{
    worker_joins(0, 0);
    worker_joins(4L * EXA_PARALLEL_SPIN_NS, 0);
    worker_joins(0, 1);
    worker_joins(4L * EXA_PARALLEL_SPIN_NS, 1);
    each_task_once(1);
    each_task_once(2);
    each_task_once(4);
    nested_loops();
    clamps_and_scratch();
    chunks_and_ranges();
    background_jobs();
    CHECK_DONE();
}
