/* comm.h - the communication layer: MPI worlds, groups and collectives on
 * parameter and gradient buffers.
 *
 * Every strategy talks to other ranks through this module only, so the
 * messages a run sends are visible in one place (and could be sent over NCCL
 * instead on a GPU).  Errors never abort silently: a failed call prints
 *     exa: rank 3: MPI_Allreduce: <MPI's message>
 * and ends the whole job.  Collectives have a deadline: a rank that waits
 * longer than the timeout for the others (a peer died, or ranks disagree on
 * what to call) says so and ends the job instead of hanging.
 *
 * One-rank runs (./train without mpirun) work: MPI is initialised as a
 * singleton and every collective is a copy. */
#ifndef EXA_COMM_H
#define EXA_COMM_H

#include <mpi.h>
#include <stddef.h>

typedef enum ExaReal { EXA_REAL_F32 = 4, EXA_REAL_F64 = 8 } ExaReal;

typedef struct ExaComm {
    MPI_Comm comm;
    int rank, size;
    double timeout;       /* seconds a collective may wait; <= 0: forever */
    int world_rank;       /* for messages */
    double *seconds;      /* if set, time spent waiting in collectives is added
                             here (shared by a world and its splits) */
    int nap_after_us;     /* a wait sleeps between polls only after this long
                             (exa_comm_init: 200 when this node's ranks
                             outnumber its cores, else 10000; EXA_COMM_WAIT) */
} ExaComm;

/* Initialises MPI (once per process) and returns the world.  timeout is the
 * deadline for collectives in seconds (EXA_COMM_TIMEOUT overrides it). */
int exa_comm_init(int *argc, char ***argv, double timeout, ExaComm *world);
void exa_comm_finalize(void);

/* Splits c into groups: ranks with the same color form one, ordered by key. */
int exa_comm_split(const ExaComm *c, int color, int key, ExaComm *out);
void exa_comm_free(ExaComm *c);

/* In-place sum over the group of n reals (or mean: the sum divided by size). */
void exa_comm_allreduce_sum(const ExaComm *c, void *buf, size_t n, ExaReal type);
void exa_comm_allreduce_mean(const ExaComm *c, void *buf, size_t n, ExaReal type);
/* The sum started only, to overlap with work (comm/grad_sync.c): buf must
 * not be touched until exa_comm_wait_all has completed the request.
 * exa_comm_progress lets MPI move started requests along without waiting
 * (MPI progresses non-blocking collectives only inside its calls); a
 * request that completes becomes MPI_REQUEST_NULL. */
MPI_Request exa_comm_iallreduce_sum(const ExaComm *c, void *buf, size_t n, ExaReal type);
void exa_comm_progress(const ExaComm *c, MPI_Request *req, int n);
void exa_comm_wait_all(const ExaComm *c, MPI_Request *req, int n);
/* Sum of one double over the group (losses, predicted reductions). */
double exa_comm_sum_double(const ExaComm *c, double x);
/* Maximum of one int over the group (agreement checks). */
int exa_comm_max_int(const ExaComm *c, int x);
/* Blocks of doubles, rank k's counts[k] at displs[k] of buf, gathered in
 * place on every rank (one contiguous call). */
void exa_comm_allgatherv_f64(const ExaComm *c, double *buf, const int *counts, const int *displs);
/* The same for reals of either precision (the rows of parameter vectors
 * gathered for a checkpoint: methods/part.c). */
void exa_comm_allgatherv(const ExaComm *c, void *buf, const int *counts, const int *displs, ExaReal type);
/* out (counts[rank] doubles) = this rank's block of the sum over the group
 * of in (the blocks of counts, in rank order, back to back). */
void exa_comm_reduce_scatter_f64(const ExaComm *c, const double *in, double *out, const int *counts);
void exa_comm_bcast(const ExaComm *c, void *buf, size_t bytes, int root);
void exa_comm_barrier(const ExaComm *c);
/* How many ranks of c share this rank's node (memory checks). */
int exa_comm_node_ranks(const ExaComm *c);
/* This rank's place among them, 0 to node_ranks - 1 (which GPU it uses). */
int exa_comm_node_rank(const ExaComm *c);
/* The median over reps (at most 64) of the one-way time of a message of
 * bytes bytes between ranks a and b of c, by a blocking MPI_Send/MPI_Recv
 * ping-pong after a barrier and warm-up rounds: the network's latency and
 * bandwidth, not exa's waiting (its wait loop naps under load).  Every rank
 * of c calls it and gets a's median. */
double exa_comm_pingpong(const ExaComm *c, int a, int b, void *buf, size_t bytes, int reps);
/* Point to point, for layer-parallel neighbours. */
void exa_comm_send(const ExaComm *c, const void *buf, size_t bytes, int to, int tag);
void exa_comm_recv(const ExaComm *c, void *buf, size_t bytes, int from, int tag);
/* The same started only, to overlap with work (pdADMM's neighbour
 * exchange); exa_comm_wait completes one (a null request returns at once)
 * under the collectives' deadline. */
MPI_Request exa_comm_isend(const ExaComm *c, const void *buf, size_t bytes, int to, int tag);
MPI_Request exa_comm_irecv(const ExaComm *c, void *buf, size_t bytes, int from, int tag);
void exa_comm_wait(const ExaComm *c, MPI_Request *req);

/* Ends the job from any rank with "exa: rank R: message" on stderr. */
void exa_comm_abort(const ExaComm *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;

/* Batch statistics (comm/batch_sync.c): the communicator the generated
 * code's statistics are summed over until the next call (NULL or one rank:
 * none); returns the previous one. */
const ExaComm *exa_batch_sync(const ExaComm *c);

/* Seconds counted in *c->seconds so far (0 when not counting). */
double exa_comm_seconds(const ExaComm *c);

#endif
