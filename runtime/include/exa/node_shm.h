/* node_shm.h - memory the ranks of a communicator share when they all run
 * on one node: an MPI-3 shared window (MPI_Comm_split_type with
 * MPI_COMM_TYPE_SHARED, MPI_Win_allocate_shared), in which every rank owns a
 * segment and reads the others' with plain loads.  data() keeps its
 * gradients and its parameters there (methods/data.c): the owner of a piece
 * adds the other ranks' gradients straight from their memory, and every
 * rank reads the stepped parameters straight from the one copy, so nothing
 * is copied through the MPI transport.
 *
 * Ordering is the caller's: a rank's stores are visible to another after
 * exa_node_shm_fence on the writer, a collective both take part in (a
 * barrier, a sum), and exa_node_shm_fence on the reader (MPI's unified
 * model for shared windows: MPI_Win_sync around a process synchronisation);
 * exa_node_shm_barrier is that sequence with a barrier. */
#ifndef EXA_NODE_SHM_H
#define EXA_NODE_SHM_H

#include <stddef.h>

#include "exa/comm.h"

typedef struct ExaNodeShm {
    const ExaComm *comm; /* the ranks, in its rank order */
    MPI_Win win;
    void **seg;          /* seg[k]: rank k's segment (64-byte aligned) */
} ExaNodeShm;

/* Why a window is not open (exa_node_shm_open). */
enum {
    EXA_SHM_NODES = 1, /* the ranks are not all on one node */
    EXA_SHM_ROOM,      /* the directory shared memory is mapped from (/dev/shm, or
                          Open MPI's osc_sm_backing_directory) is not writable or
                          has not room for it */
    EXA_SHM_FAILED     /* some rank could not map its segment */
};
/* Every rank of comm (collective) owns `bytes` (rank 0 bytes + extra0) of
 * a new window.  Returns 0 when it is open, else an EXA_SHM_* reason, the
 * same on every rank (nothing is open on any: the caller sends through MPI
 * instead). */
int exa_node_shm_open(ExaNodeShm *s, const ExaComm *comm, size_t bytes, size_t extra0);
/* The memory ordering half of a synchronisation (above). */
void exa_node_shm_fence(const ExaNodeShm *s);
/* Every rank's stores before the call visible to every rank after it. */
void exa_node_shm_barrier(const ExaNodeShm *s);
/* Collective; the segments are gone afterwards.  Nothing when not open. */
void exa_node_shm_close(ExaNodeShm *s);

#endif
