/* parallel_test.c - the worker pool: every task runs exactly once on a
 * worker number below the thread count, for task counts below, at and far
 * above it and across many loops in a row (a worker that missed a wake-up
 * or ran a loop twice shows here); a loop inside a task runs on that task's
 * thread; set_threads clamps; scratch grows, stays and is aligned;
 * exa_parallel_chunk keeps small loops whole and cuts long ones into
 * 16-iteration blocks, one per thread, and exa_parallel_range covers every
 * iteration once. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

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

typedef struct Nested {
    atomic_int inner_runs, inner_elsewhere;
} Nested;

static _Thread_local int outer_worker = -1;

static void inner_task(void *ctx, int64_t t, int worker)
{
    Nested *n = ctx;
    (void)t;
    atomic_fetch_add(&n->inner_runs, 1);
    if (worker != outer_worker)
        atomic_fetch_add(&n->inner_elsewhere, 1);
}

static void outer_task(void *ctx, int64_t t, int worker)
{
    (void)t;
    outer_worker = worker;
    exa_parallel_for(5, inner_task, ctx);
    outer_worker = -1;
}

static void nested_loops(void)
{
    exa_parallel_set_threads(3);
    Nested n = { 0 };
    exa_parallel_for(8, outer_task, &n);
    CHECK(atomic_load(&n.inner_runs) == 40);
    CHECK(atomic_load(&n.inner_elsewhere) == 0);
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

int main(void)
{
    each_task_once(1);
    each_task_once(2);
    each_task_once(4);
    nested_loops();
    clamps_and_scratch();
    chunks_and_ranges();
    CHECK_DONE();
}
