/* pool_overhead.c - what a loop of libexa's pool (runtime/core/parallel.c)
 * costs, for docs/results/throughput.md and EXA_PARALLEL_SPIN_NS.
 *
 *   pool_overhead GAP_US WORK_US [LOOPS]
 *
 * runs LOOPS (default 2000) rounds of: GAP_US microseconds of the caller's
 * own work, then one exa_parallel_for of two tasks of WORK_US / 2 each (a
 * loop that takes WORK_US on one thread), at 1 and at 2 threads, best of 5
 * alternating rounds, and prints microseconds per round and 1t / 2t.  Ideal
 * at 2 threads: GAP_US + WORK_US / 2.  Where GAP_US is longer than the
 * spin, the worker sleeps between loops and every loop pays a wake-up.
 * Built against any parallel.c, so the previous pool can be measured
 * side by side:
 *   cc -O2 -Iruntime/include bench/pool_overhead.c runtime/core/parallel.c -lpthread */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "exa/parallel.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e6 * (double)t.tv_sec + 1e-3 * (double)t.tv_nsec;
}

/* Busy for about `us` microseconds (a clock, not a calibrated count: the
 * other thread may run at another speed under load). */
static void busy(double us)
{
    double end = now_us() + us;
    while (now_us() < end)
        ;
}

static void task(void *ctx, int64_t t, int worker)
{
    (void)t, (void)worker;
    busy(*(const double *)ctx);
}

static double per_round(int threads, double gap, double work, int loops)
{
    exa_parallel_set_threads(threads);
    double half = work / 2;
    exa_parallel_for(2, task, &half); /* start the worker */
    double t0 = now_us();
    for (int i = 0; i < loops; i++) {
        busy(gap);
        exa_parallel_for(2, task, &half);
    }
    return (now_us() - t0) / loops;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pool_overhead GAP_US WORK_US [LOOPS]\n");
        return 2;
    }
    double gap = atof(argv[1]), work = atof(argv[2]);
    int loops = argc > 3 ? atoi(argv[3]) : 2000;
    double best1 = 1e30, best2 = 1e30;
    for (int r = 0; r < 5; r++) {
        double t1 = per_round(1, gap, work, loops), t2 = per_round(2, gap, work, loops);
        best1 = t1 < best1 ? t1 : best1;
        best2 = t2 < best2 ? t2 : best2;
    }
    printf("gap %6.1f us  loop %6.1f us: 1t %7.2f us  2t %7.2f us (ideal %7.2f)  1t/2t %.2fx\n", gap, work, best1,
           best2, gap + work / 2, best1 / best2);
    return 0;
}
