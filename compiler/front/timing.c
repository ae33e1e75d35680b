/* timing.c - exac --time-passes (timing.h). */
#include "timing.h"

#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { MAX_PASSES = 32 };

typedef struct Pass {
    const char *name;
    double wall, cpu;
} Pass;

static struct {
    int on;
    Pass pass[MAX_PASSES];
    int npass;
    int current;              /* index into pass, -1 when none runs */
    double wall0, cpu0;       /* when the current pass started */
} T = { .current = -1 };

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* this process and its waited-for children (the linker) */
static double cpu_now(void)
{
    double s = 0;
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
        s += (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec
             + (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return s + (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void timing_enable(int on)
{
    T.on = on;
}

void timing_pass(const char *name)
{
    if (!T.on)
        return;
    double w = wall_now(), c = cpu_now();
    if (T.current >= 0) {
        T.pass[T.current].wall += w - T.wall0;
        T.pass[T.current].cpu += c - T.cpu0;
    }
    T.current = -1;
    if (!name)
        return;
    int i = 0;
    while (i < T.npass && strcmp(T.pass[i].name, name) != 0)
        i++;
    if (i == T.npass) {
        if (T.npass == MAX_PASSES)
            return; /* a fixed set of stage names: cannot happen */
        T.pass[T.npass++] = (Pass){ .name = name };
    }
    T.current = i;
    T.wall0 = w;
    T.cpu0 = c;
}

void timing_report(FILE *out)
{
    if (!T.on)
        return;
    timing_pass(NULL);
    double wall = 0, cpu = 0;
    fprintf(out, "exac: time per pass (seconds)\n%-24s %9s %9s\n", "pass", "wall", "cpu");
    for (int i = 0; i < T.npass; i++) {
        fprintf(out, "%-24s %9.4f %9.4f\n", T.pass[i].name, T.pass[i].wall, T.pass[i].cpu);
        wall += T.pass[i].wall;
        cpu += T.pass[i].cpu;
    }
    fprintf(out, "%-24s %9.4f %9.4f\n", "total", wall, cpu);
}
