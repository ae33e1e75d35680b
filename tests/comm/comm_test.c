/* comm_test.c - the communication layer at any rank count: sums, means,
 * broadcasts, splits and point-to-point give the exact expected values, and
 * with `hang` as argument, a collective one rank never joins ends the job with
 * a message naming the call instead of hanging (checked by the CMake test's
 * expected output and a timeout).  With `wait N` it checks only the wait
 * policy: a rank naps between polls after N us (EXA_COMM_WAIT chose it);
 * without, the default: early naps only when the node's ranks outnumber its
 * cores (all ranks of these tests run on one node). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exa/comm.h"

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    ExaComm world;
    if (exa_comm_init(&argc, &argv, 5.0, &world) != 0)
        return 1;
    double waited = 0;
    world.seconds = &waited;
    int p = world.size, r = world.rank;
    if (argc > 2 && strcmp(argv[1], "wait") == 0) {
        expect(world.nap_after_us == atoi(argv[2]), "EXA_COMM_WAIT's policy");
        exa_comm_finalize();
        return failures != 0;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    expect(world.nap_after_us == (p > cores ? 200 : 10000), "naps early only when oversubscribed");
    if (argc > 1 && strcmp(argv[1], "hang") == 0) {
        if (p > 1 && r == p - 1) {
            exa_comm_barrier(&world); /* the others are in an allreduce: never matches */
        } else {
            double x = 1;
            exa_comm_allreduce_sum(&world, &x, 1, EXA_REAL_F64);
        }
        exa_comm_finalize();
        return p > 1 ? 1 : 0; /* with one rank there is nobody to wait for */
    }
    double d[3] = { r, 2.0 * r, 1 };
    exa_comm_allreduce_sum(&world, d, 3, EXA_REAL_F64);
    double s = p * (p - 1) / 2.0;
    expect(d[0] == s && d[1] == 2 * s && d[2] == p, "allreduce sum f64");
    float f[2] = { (float)r, 1 };
    exa_comm_allreduce_mean(&world, f, 2, EXA_REAL_F32);
    expect(f[0] == (float)(s / p) && f[1] == 1.0f, "allreduce mean f32");
    expect(exa_comm_sum_double(&world, 0.5) == 0.5 * p, "sum of doubles");
    expect(exa_comm_max_int(&world, r) == p - 1, "max int");
    char msg[16] = "";
    if (r == 0)
        strcpy(msg, "from root");
    exa_comm_bcast(&world, msg, sizeof msg, 0);
    expect(strcmp(msg, "from root") == 0, "broadcast");
    ExaComm half;
    exa_comm_split(&world, r % 2, r, &half);
    int expected_size = p / 2 + (r % 2 == 0 ? p % 2 : 0);
    expect(half.size == expected_size && half.rank == r / 2, "split");
    double h = 1;
    exa_comm_allreduce_sum(&half, &h, 1, EXA_REAL_F64);
    expect(h == half.size, "allreduce in a split");
    exa_comm_free(&half);
    if (p > 1) { /* a ring: each rank sends its rank to the next */
        int got = -1, to = (r + 1) % p, from = (r + p - 1) % p;
        if (r % 2 == 0) {
            exa_comm_send(&world, &r, sizeof r, to, 7);
            exa_comm_recv(&world, &got, sizeof got, from, 7);
        } else {
            exa_comm_recv(&world, &got, sizeof got, from, 7);
            exa_comm_send(&world, &r, sizeof r, to, 7);
        }
        expect(got == from, "ring send/recv");
    }
    exa_comm_barrier(&world);
    expect(exa_comm_seconds(&world) >= 0 && waited == exa_comm_seconds(&world), "time accounting");
    int all_failures = (int)exa_comm_sum_double(&world, failures);
    if (r == 0)
        printf("comm at %d ranks: %s\n", p, all_failures ? "FAILED" : "ok");
    exa_comm_finalize();
    return all_failures ? 1 : 0;
}
