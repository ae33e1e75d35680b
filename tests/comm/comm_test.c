/* comm_test.c - the communication layer at any rank count: sums, means,
 * broadcasts, splits and point-to-point give the exact expected values, and
 * with `hang` as argument, a collective one rank never joins ends the job with
 * a message naming the call instead of hanging (checked by the CMake test's
 * expected output and a timeout).  With `wait N` it checks only the wait
 * policy: a rank naps between polls after N us (EXA_COMM_WAIT chose it);
 * without, the default: early naps only when the node's ranks outnumber its
 * cores (all ranks of these tests run on one node).  Memory shared by the
 * node's ranks (exa/node_shm.h): every rank's segment seen by every rank,
 * and the sharded gradient sum (exa/grad_sync.h) taken from it equal bit for
 * bit to the same sum sent through MPI and to the rank-order sum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exa/comm.h"
#include "exa/grad_sync.h"
#include "exa/node_shm.h"

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

enum { SHM_N = 1000 };

/* Rank k's gradient element i (exact in float). */
static float grad_of(int k, int i)
{
    return (float)((i % 37) * (k + 1)) * 0.125f - (float)k;
}

/* The sharded sum of every rank's SHM_N-float gradient, reported to the
 * callback in three ranges in reverse order, weighted by 1/size before the
 * sum (defer 0) or not (defer 1): this rank's piece into out. */
static void sharded_sum(const ExaComm *c, float *grad, const ExaGradShard *sh, float *out)
{
    ExaGradSync s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < SHM_N; i++)
        grad[i] = grad_of(c->rank, i);
    exa_grad_sync_shard(&s, sh);
    exa_grad_sync_begin(&s, c, grad, SHM_N, EXA_REAL_F32, 1.0 / c->size, 64);
    exa_grad_sync_ready(&s, 0, 700, 300);
    exa_grad_sync_ready(&s, 0, 100, 600);
    double loss = exa_grad_sync_finish(&s, 1.0);
    double scale;
    expect(loss == c->size && exa_grad_sync_sharded(&s, &scale)
               && scale == (sh->defer_weight ? 1.0 / c->size : 1), "sharded sum: loss and scale");
    memcpy(out, sh->out, (size_t)sh->cnt[c->rank] * sizeof *out);
    exa_grad_sync_free(&s);
}

static void node_shm(const ExaComm *c)
{
    int p = c->size, r = c->rank;
    ExaNodeShm shm;
    if (exa_node_shm_open(&shm, c, SHM_N * sizeof(float), 64) != 0) {
        expect(0, "shared window on one node");
        return;
    }
    int *mark = shm.seg[r];
    mark[0] = 100 + r;
    exa_node_shm_barrier(&shm);
    int seen = 1;
    for (int k = 0; k < p; k++)
        seen = seen && ((int *)shm.seg[k])[0] == 100 + k && (uintptr_t)shm.seg[k] % 64 == 0;
    expect(seen, "every segment seen, aligned");
    exa_node_shm_barrier(&shm); /* read before the sums write the gradients */
    int cnt[64], off[64], at = 0;
    for (int k = 0; k < p && p <= 64; k++)
        cnt[k] = SHM_N / p + (k < SHM_N % p), off[k] = at, at += cnt[k];
    float viampi[SHM_N], viashm[SHM_N], piece[SHM_N], mpigrad[SHM_N];
    for (int defer = 0; defer < 2; defer++) {
        ExaGradShard sh = { .out = piece, .cnt = cnt, .off = off, .defer_weight = defer };
        sharded_sum(c, mpigrad, &sh, viampi);
        sh.shm = &shm, sh.grads = shm.seg;
        sharded_sum(c, shm.seg[r], &sh, viashm);
        exa_node_shm_barrier(&shm); /* every gradient read */
        int same = memcmp(viampi, viashm, (size_t)cnt[r] * sizeof *viampi) == 0, exact = 1;
        for (int i = 0; i < cnt[r]; i++) { /* rank order, each part weighted as the sum does */
            int j = off[r] + i;
            float w = (float)(1.0 / p), e = defer ? grad_of(0, j) : (float)(w * (double)grad_of(0, j));
            for (int k = 1; k < p; k++)
                e += defer ? grad_of(k, j) : (float)(w * (double)grad_of(k, j));
            exact = exact && viashm[i] == e;
        }
        expect(same && exact, defer ? "sharded sum from shared memory (deferred weight)"
                                    : "sharded sum from shared memory (weighted)");
    }
    exa_node_shm_close(&shm);
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
    node_shm(&world);
    exa_comm_barrier(&world);
    expect(exa_comm_seconds(&world) >= 0 && waited == exa_comm_seconds(&world), "time accounting");
    int all_failures = (int)exa_comm_sum_double(&world, failures);
    if (r == 0)
        printf("comm at %d ranks: %s\n", p, all_failures ? "FAILED" : "ok");
    exa_comm_finalize();
    return all_failures ? 1 : 0;
}
