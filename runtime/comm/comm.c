/* comm.c - MPI collectives with errors that name the rank and the call, and
 * deadlines instead of hangs.
 *
 * MPI has no timeout on collectives, so each one is started non-blocking
 * (MPI_Iallreduce, MPI_Ibcast, ...) and completed by polling MPI_Test until
 * it finishes or the deadline passes (wait_all says at what latency).
 * A hung training job on a cluster costs far more than the polling. */
#include "exa/comm.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void exa_comm_abort(const ExaComm *c, const char *fmt, ...)
{
    int rank = c ? c->world_rank : 0;
    fprintf(stderr, "exa: rank %d: ", rank);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1); /* not reached: MPI_Abort ends the process */
}

static void check(const ExaComm *c, int err, const char *call)
{
    if (err == MPI_SUCCESS)
        return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    exa_comm_abort(c, "%s: %.*s", call, len, msg);
}

/* Completes the n requests, or ends the job when c->timeout passes first.
 * Polls flat out for the first 50 microseconds (a collective between busy
 * ranks completes in that time); then, up to 200 us, yields the core between
 * polls, which returns at once when no other thread wants it (no added
 * latency) and hands it over when one does (a rank waiting for a slower one
 * must not take the core that one needs whenever ranks outnumber cores);
 * after that it sleeps between polls, 10 us doubling up to 1 ms, with the
 * thread's timer slack cut to 1 us so a nap ends when asked: the naps this
 * replaced started after 2000 polls and overslept by the default slack of
 * 50 us on every wait.  So the latency a wait adds stays below the time it
 * has already waited.  (Yielding for longer was tried: on the loaded 2-core
 * machine two ranks that yield for 10 ms trained the MLP 30% slower than
 * with naps, the yielding rank keeping a core its peer was queued for.) */
/* Polls until every request is done.  A rank waits for the others' arithmetic
 * (or its sums' other halves), so the poll must notice the end at once: the
 * first 50 us flat out, then yielding the core between polls (sched_yield
 * returns at once when no other thread wants the core, so no latency is
 * added, and hands it over when one does).  Sleeping between polls added its
 * nap to every wait that lasted longer than the nap's start: with naps after
 * 200 us the 784-128-10 MLP ran at 2 ranks at 0.55x of 1 rank, without them
 * at 1.5x (docs/results/parallel_efficiency.md), since every rank that napped
 * came back late to the collective the others were already in.  So naps
 * start only after c->nap_after_us: early when ranks outnumber the node's
 * cores (a polling rank would take the core of one still computing), else
 * after 10 ms (a checkpoint, validation on rank 0), and a nap is at most an
 * eighth of the time waited so far, so it adds at most 1/8 to a wait. */
static void wait_all(const ExaComm *c, MPI_Request *req, int n, const char *call)
{
    double start = now();
    double nap_after = 1e-6 * (double)c->nap_after_us;
    int done = 0;
    long nap_ns = 10000;
    for (;;) {
        check(c, MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE), call);
        if (done)
            break;
        double waited = now() - start;
        if (c->timeout > 0 && waited > c->timeout)
            exa_comm_abort(c, "%s: no answer from the other %d ranks after %.0f s "
                              "(a rank died or ranks disagree on the call); stopping",
                           call, c->size - 1, c->timeout);
        if (waited < 50e-6)
            continue;
        if (waited < nap_after) {
            sched_yield();
            continue;
        }
        static int slack_set;
        if (!slack_set) {
            slack_set = 1;
#ifdef __linux__
            prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
        }
        long cap = (long)(waited * 1e9 / 8);
        struct timespec nap = { 0, nap_ns < cap ? nap_ns : cap };
        nanosleep(&nap, NULL);
        if (nap_ns < 1000000)
            nap_ns *= 2;
    }
    if (c->seconds)
        *c->seconds += now() - start;
}

static void wait_for(const ExaComm *c, MPI_Request *req, const char *call)
{
    wait_all(c, req, 1, call);
}

/* When a waiting rank may sleep (ExaComm.nap_after_us): early only where
 * this node runs more ranks than it has cores.  EXA_COMM_WAIT=poll|nap
 * chooses either way (for measurements; docs/runtime.md). */
static int wait_policy(const ExaComm *world)
{
    enum { NAP_EARLY_US = 200, NAP_LATE_US = 10000 };
    const char *env = getenv("EXA_COMM_WAIT");
    if (env && *env) {
        if (strcmp(env, "poll") == 0)
            return NAP_LATE_US;
        if (strcmp(env, "nap") == 0)
            return NAP_EARLY_US;
        exa_comm_abort(world, "EXA_COMM_WAIT: '%s' is not poll or nap", env);
    }
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(world->comm, MPI_COMM_TYPE_SHARED, world->rank, MPI_INFO_NULL, &node)
        == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 && local > cores ? NAP_EARLY_US : NAP_LATE_US;
}

int exa_comm_init(int *argc, char ***argv, double timeout, ExaComm *world)
{
    int initialised = 0;
    MPI_Initialized(&initialised);
    /* Open MPI's non-blocking allreduce (libnbc) by default reduces along a
     * binomial tree, whole vectors at each level: on 2 ranks of one node 109
     * us for the 784-128-10 network's 101770 gradients and 2.0 ms for 10^6,
     * against 66 us and 0.58 ms with Rabenseifner's reduce-scatter and
     * allgather (and 64 us and 0.82 ms for the blocking MPI_Allreduce;
     * docs/results/parallel_efficiency.md).  Asked for unless the environment
     * chooses; other MPIs ignore the variable. */
    if (!initialised)
        setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", 0);
    if (!initialised && MPI_Init(argc, argv) != MPI_SUCCESS) {
        fputs("exa: MPI_Init failed\n", stderr);
        return -1;
    }
    /* errors come back to us, so they can be reported with the rank */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    world->comm = MPI_COMM_WORLD;
    MPI_Comm_rank(MPI_COMM_WORLD, &world->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world->size);
    world->world_rank = world->rank;
    world->seconds = NULL;
    const char *env = getenv("EXA_COMM_TIMEOUT");
    world->timeout = env ? atof(env) : timeout;
    world->nap_after_us = wait_policy(world);
    return 0;
}

void exa_comm_finalize(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
}

int exa_comm_split(const ExaComm *c, int color, int key, ExaComm *out)
{
    *out = *c;
    check(c, MPI_Comm_split(c->comm, color, key, &out->comm), "MPI_Comm_split");
    MPI_Comm_set_errhandler(out->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(out->comm, &out->rank);
    MPI_Comm_size(out->comm, &out->size);
    return 0;
}

void exa_comm_free(ExaComm *c)
{
    if (c->comm != MPI_COMM_WORLD && c->comm != MPI_COMM_NULL)
        MPI_Comm_free(&c->comm);
}

static MPI_Datatype mpi_type(ExaReal type)
{
    return type == EXA_REAL_F32 ? MPI_FLOAT : MPI_DOUBLE;
}

void exa_comm_allreduce_sum(const ExaComm *c, void *buf, size_t n, ExaReal type)
{
    if (c->size == 1 || n == 0)
        return;
    if (n > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Iallreduce: %zu elements is more than one call can send", n);
    MPI_Request req;
    check(c, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), MPI_SUM, c->comm, &req),
          "MPI_Iallreduce");
    wait_for(c, &req, "MPI_Iallreduce");
}

void exa_comm_allreduce_mean(const ExaComm *c, void *buf, size_t n, ExaReal type)
{
    exa_comm_allreduce_sum(c, buf, n, type);
    if (c->size == 1)
        return;
    if (type == EXA_REAL_F32) {
        float *x = buf, s = 1.0f / (float)c->size;
        for (size_t i = 0; i < n; i++)
            x[i] *= s;
    } else {
        double *x = buf, s = 1.0 / (double)c->size;
        for (size_t i = 0; i < n; i++)
            x[i] *= s;
    }
}

MPI_Request exa_comm_iallreduce_sum(const ExaComm *c, void *buf, size_t n, ExaReal type)
{
    if (c->size == 1 || n == 0)
        return MPI_REQUEST_NULL;
    if (n > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Iallreduce: %zu elements is more than one call can send", n);
    MPI_Request req;
    check(c, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, mpi_type(type), MPI_SUM, c->comm, &req),
          "MPI_Iallreduce");
    return req;
}

void exa_comm_progress(const ExaComm *c, MPI_Request *req, int n)
{
    int done;
    if (n > 0)
        check(c, MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE), "MPI_Iallreduce");
}

void exa_comm_wait_all(const ExaComm *c, MPI_Request *req, int n)
{
    if (n > 0)
        wait_all(c, req, n, "MPI_Iallreduce");
}

double exa_comm_sum_double(const ExaComm *c, double x)
{
    exa_comm_allreduce_sum(c, &x, 1, EXA_REAL_F64);
    return x;
}

int exa_comm_max_int(const ExaComm *c, int x)
{
    if (c->size == 1)
        return x;
    MPI_Request req;
    check(c, MPI_Iallreduce(MPI_IN_PLACE, &x, 1, MPI_INT, MPI_MAX, c->comm, &req), "MPI_Iallreduce");
    wait_for(c, &req, "MPI_Iallreduce");
    return x;
}

void exa_comm_bcast(const ExaComm *c, void *buf, size_t bytes, int root)
{
    if (c->size == 1 || bytes == 0)
        return;
    if (bytes > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Ibcast: %zu bytes is more than one call can send", bytes);
    MPI_Request req;
    check(c, MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, c->comm, &req), "MPI_Ibcast");
    wait_for(c, &req, "MPI_Ibcast");
}

void exa_comm_barrier(const ExaComm *c)
{
    if (c->size == 1)
        return;
    MPI_Request req;
    check(c, MPI_Ibarrier(c->comm, &req), "MPI_Ibarrier");
    wait_for(c, &req, "MPI_Ibarrier");
}

void exa_comm_send(const ExaComm *c, const void *buf, size_t bytes, int to, int tag)
{
    MPI_Request req;
    check(c, MPI_Isend(buf, (int)bytes, MPI_BYTE, to, tag, c->comm, &req), "MPI_Isend");
    wait_for(c, &req, "MPI_Isend");
}

void exa_comm_recv(const ExaComm *c, void *buf, size_t bytes, int from, int tag)
{
    MPI_Request req;
    check(c, MPI_Irecv(buf, (int)bytes, MPI_BYTE, from, tag, c->comm, &req), "MPI_Irecv");
    wait_for(c, &req, "MPI_Irecv");
}

double exa_comm_pingpong(const ExaComm *c, int a, int b, void *buf, size_t bytes, int reps)
{
    enum { MAX = 64, WARM = 3, TAG = 903 };
    double t[MAX], median = 0;
    reps = reps < 1 ? 1 : reps > MAX ? MAX : reps;
    if (bytes > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Send: %zu bytes is more than one call can send", bytes);
    exa_comm_barrier(c);
    if (c->size > 1 && (c->rank == a || c->rank == b)) {
        int peer = c->rank == a ? b : a;
        for (int i = -WARM; i < reps; i++) {
            double t0 = MPI_Wtime();
            if (c->rank == a) {
                check(c, MPI_Send(buf, (int)bytes, MPI_BYTE, peer, TAG, c->comm), "MPI_Send");
                check(c, MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, TAG, c->comm, MPI_STATUS_IGNORE), "MPI_Recv");
            } else {
                check(c, MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, TAG, c->comm, MPI_STATUS_IGNORE), "MPI_Recv");
                check(c, MPI_Send(buf, (int)bytes, MPI_BYTE, peer, TAG, c->comm), "MPI_Send");
            }
            if (i < 0)
                continue;
            t[i] = (MPI_Wtime() - t0) / 2;
            for (int k = i; k > 0 && t[k] < t[k - 1]; k--) { /* insertion sort */
                double x = t[k];
                t[k] = t[k - 1], t[k - 1] = x;
            }
        }
        median = t[reps / 2];
    }
    exa_comm_bcast(c, &median, sizeof median, a);
    return median;
}

int exa_comm_node_ranks(const ExaComm *c)
{
    MPI_Comm node;
    int n = 1;
    if (c->size == 1)
        return 1;
    check(c, MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

int exa_comm_node_rank(const ExaComm *c)
{
    MPI_Comm node;
    int r = 0;
    if (c->size == 1)
        return 0;
    check(c, MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
    return r;
}

MPI_Request exa_comm_isend(const ExaComm *c, const void *buf, size_t bytes, int to, int tag)
{
    if (bytes > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Isend: %zu bytes is more than one call can send", bytes);
    MPI_Request req;
    check(c, MPI_Isend(buf, (int)bytes, MPI_BYTE, to, tag, c->comm, &req), "MPI_Isend");
    return req;
}

MPI_Request exa_comm_irecv(const ExaComm *c, void *buf, size_t bytes, int from, int tag)
{
    if (bytes > (size_t)INT32_MAX)
        exa_comm_abort(c, "MPI_Irecv: %zu bytes is more than one call can receive", bytes);
    MPI_Request req;
    check(c, MPI_Irecv(buf, (int)bytes, MPI_BYTE, from, tag, c->comm, &req), "MPI_Irecv");
    return req;
}

void exa_comm_wait(const ExaComm *c, MPI_Request *req)
{
    if (*req != MPI_REQUEST_NULL)
        wait_for(c, req, "MPI_Wait");
    *req = MPI_REQUEST_NULL;
}

double exa_comm_seconds(const ExaComm *c)
{
    return c->seconds ? *c->seconds : 0;
}

/* The gathered blocks are the model-parallel layers' (runtime/methods/
 * neurons.c): rank k's block of counts[k] doubles sits at displs[k] of buf
 * already, so both calls work in place on one contiguous buffer. */
void exa_comm_allgatherv(const ExaComm *c, void *buf, const int *counts, const int *displs, ExaReal type)
{
    if (c->size == 1)
        return;
    MPI_Request req;
    check(c, MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, mpi_type(type), c->comm, &req),
          "MPI_Iallgatherv");
    wait_for(c, &req, "MPI_Iallgatherv");
}

void exa_comm_allgatherv_f64(const ExaComm *c, double *buf, const int *counts, const int *displs)
{
    exa_comm_allgatherv(c, buf, counts, displs, EXA_REAL_F64);
}

void exa_comm_reduce_scatter_f64(const ExaComm *c, const double *in, double *out, const int *counts)
{
    if (c->size == 1) {
        memcpy(out, in, (size_t)counts[0] * sizeof *out);
        return;
    }
    MPI_Request req;
    check(c, MPI_Ireduce_scatter(in, out, counts, MPI_DOUBLE, MPI_SUM, c->comm, &req), "MPI_Ireduce_scatter");
    wait_for(c, &req, "MPI_Ireduce_scatter");
}
