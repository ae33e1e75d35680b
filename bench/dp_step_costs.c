/* dp_step_costs.c - the fixed costs of a data-parallel optimiser step at P
 * ranks, best of REPS, in microseconds: what a step of data() adds to the
 * forward and backward pass of its rows, for an f32 gradient of N reals
 * (the 784-128-10 MLP: 101770), SGD without momentum (bench/parallel_
 * efficiency.sh's).  Unsharded: the share weighting and the allreduce
 * (exa_grad_sync, one bucket, with the loss), then the SGD step over all N.
 * Sharded (methods/data.c): the pieces exchanged and added (the weighting
 * left to the step), the SGD step over this rank's piece, the pieces
 * all-gathered.  Sharded on one node (data()'s default there,
 * exa/node_shm.h): the gradients and the parameters in a shared window, the
 * loss summed, the pieces added from the other ranks' memory, the step on
 * the one copy, a barrier; at two ranks also as data() runs it there with
 * SGD: the two parts added inside the step's update (no pass that adds
 * them first).  Each part is timed alone after a barrier; rank 0 prints.
 *
 *   mpirun -np 2 dp_step_costs [N] [REPS]      (101770, 300)
 * built by bench/parallel_efficiency.sh against the build's libexa. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/comm.h"
#include "exa/grad_sync.h"
#include "exa/node_shm.h"
#include "exa/optim.h"

enum { NPART = 14 };
static double best[NPART];
static const char *what[NPART] = {
    "unsharded: weighting + allreduce (grad_sync)", "unsharded: SGD step over all N",
    "sharded: pieces exchanged and added (grad_sync)", "sharded: SGD step over the piece (scaled)",
    "sharded: pieces all-gathered", "unsharded total", "sharded total",
    "shared memory: loss summed, pieces added (grad_sync)", "shared memory: SGD step over the piece",
    "shared memory: barrier", "shared memory total",
    "2 ranks, shared memory: loss summed (grad_sync)", "2 ranks, shared memory: SGD step adding the parts",
    "2 ranks, shared memory total, with the barrier",
};

static void note(int i, double t)
{
    if (t < best[i])
        best[i] = t;
}

int main(int argc, char **argv)
{
    ExaComm c;
    if (exa_comm_init(&argc, &argv, 60, &c) != 0)
        return 1;
    int64_t n = argc > 1 ? atoll(argv[1]) : 101770;
    int reps = argc > 2 ? atoi(argv[2]) : 300, P = c.size;
    float *g0 = malloc((size_t)n * sizeof *g0), *g = malloc((size_t)n * sizeof *g);
    float *x = malloc((size_t)n * sizeof *x), *out = malloc((size_t)n * sizeof *out);
    int *cnt = malloc((size_t)P * sizeof *cnt), *off = malloc((size_t)P * sizeof *off);
    for (int64_t i = 0; i < n; i++)
        g0[i] = (float)((i % 97) * 1e-3), x[i] = (float)((i % 13) * 1e-2);
    int64_t units = n / 16, at = 0; /* data.c's pieces: whole 64-byte lines */
    for (int k = 0; k < P; k++) {
        int64_t m = (units / P + (k < units % P)) * 16;
        if (k == P - 1)
            m = n - at;
        off[k] = (int)at, cnt[k] = (int)m, at += m;
    }
    ExaSgd all, part;
    ExaSgdConfig cfg = { .lr = 0.01 };
    exa_sgd_init(&all, cfg, n, 0);
    exa_sgd_init(&part, cfg, cnt[c.rank], 0);
    ExaGradSync s;
    memset(&s, 0, sizeof s);
    ExaGradShard sh = { .out = out, .cnt = cnt, .off = off, .defer_weight = 1 };
    for (int i = 0; i < NPART; i++)
        best[i] = DBL_MAX;
    size_t gbytes = ((size_t)n * sizeof(float) + 63) / 64 * 64;
    ExaNodeShm shm;
    int on_node = P > 1 && exa_node_shm_open(&shm, &c, gbytes, (size_t)n * sizeof(float)) == 0;
    ExaGradShard shs = sh;
    float *sg = NULL, *sx = NULL;
    if (on_node) {
        shs.shm = &shm, shs.grads = shm.seg;
        sg = shm.seg[c.rank], sx = (float *)((char *)shm.seg[0] + gbytes);
        if (c.rank == 0)
            memcpy(sx, x, (size_t)n * sizeof *x);
        exa_node_shm_barrier(&shm);
    }
    for (int r = 0; r < reps; r++) {
        double t[6];
        memcpy(g, g0, (size_t)n * sizeof *g);
        exa_comm_barrier(&c);
        t[0] = MPI_Wtime();
        exa_grad_sync_shard(&s, NULL);
        exa_grad_sync_begin(&s, &c, g, n, EXA_REAL_F32, 1.0 / P, n);
        exa_grad_sync_finish(&s, 1.0);
        t[1] = MPI_Wtime();
        exa_sgd_step_f32(&all, x, g);
        t[2] = MPI_Wtime();
        note(0, t[1] - t[0]), note(1, t[2] - t[1]), note(5, t[2] - t[0]);
        memcpy(g, g0, (size_t)n * sizeof *g);
        exa_comm_barrier(&c);
        t[0] = MPI_Wtime();
        exa_grad_sync_shard(&s, &sh);
        exa_grad_sync_begin(&s, &c, g, n, EXA_REAL_F32, 1.0 / P, n);
        exa_grad_sync_finish(&s, 1.0);
        double scale;
        exa_grad_sync_sharded(&s, &scale);
        t[1] = MPI_Wtime();
        exa_sgd_step_scaled_f32(&part, x + off[c.rank], out, scale);
        t[2] = MPI_Wtime();
        exa_comm_allgatherv(&c, x, cnt, off, EXA_REAL_F32);
        t[3] = MPI_Wtime();
        note(2, t[1] - t[0]), note(3, t[2] - t[1]), note(4, t[3] - t[2]), note(6, t[3] - t[0]);
        if (!on_node)
            continue;
        memcpy(sg, g0, (size_t)n * sizeof *sg);
        exa_node_shm_barrier(&shm);
        t[0] = MPI_Wtime();
        exa_grad_sync_shard(&s, &shs);
        exa_grad_sync_begin(&s, &c, sg, n, EXA_REAL_F32, 1.0 / P, n);
        exa_grad_sync_finish(&s, 1.0);
        exa_grad_sync_sharded(&s, &scale);
        t[1] = MPI_Wtime();
        exa_sgd_step_scaled_f32(&part, sx + off[c.rank], out, scale);
        t[2] = MPI_Wtime();
        exa_node_shm_barrier(&shm);
        t[3] = MPI_Wtime();
        note(7, t[1] - t[0]), note(8, t[2] - t[1]), note(9, t[3] - t[2]), note(10, t[3] - t[0]);
        if (P != 2)
            continue;
        ExaGradShard two = shs;
        two.out = NULL; /* the parts stay where they lie */
        memcpy(sg, g0, (size_t)n * sizeof *sg);
        exa_node_shm_barrier(&shm);
        t[0] = MPI_Wtime();
        exa_grad_sync_shard(&s, &two);
        exa_grad_sync_begin(&s, &c, sg, n, EXA_REAL_F32, 1.0 / P, n);
        exa_grad_sync_finish(&s, 1.0);
        exa_grad_sync_sharded(&s, &scale);
        t[1] = MPI_Wtime();
        exa_sgd_step_sum2_scaled_f32(&part, sx + off[c.rank], (float *)shm.seg[0] + off[c.rank],
                                     (float *)shm.seg[1] + off[c.rank], scale);
        t[2] = MPI_Wtime();
        exa_node_shm_barrier(&shm);
        t[3] = MPI_Wtime();
        note(11, t[1] - t[0]), note(12, t[2] - t[1]), note(13, t[3] - t[0]);
    }
    if (c.rank == 0) {
        printf("%lld floats at %d ranks, best of %d (rank 0):\n", (long long)n, P, reps);
        for (int i = 0; i < (!on_node ? 7 : P == 2 ? NPART : 11); i++)
            printf("  %-52s %7.1f us\n", what[i], 1e6 * best[i]);
    }
    if (on_node)
        exa_node_shm_close(&shm);
    exa_grad_sync_free(&s);
    exa_sgd_free(&all), exa_sgd_free(&part);
    free(g0), free(g), free(x), free(out), free(cnt), free(off);
    exa_comm_finalize();
    return 0;
}
