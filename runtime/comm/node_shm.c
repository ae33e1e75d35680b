/* node_shm.c - a window of memory shared by the ranks of one node
 * (exa/node_shm.h). */
#include "exa/node_shm.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Segments are asked for in whole pages plus a line and used from their
 * first 64-byte boundary (Open MPI starts them a header's length into a
 * page, even when asked for alloc_shared_noncontig): no two ranks' data
 * share a cache line. */
enum { SEG_ALIGN = 4096, LINE = 64 };

static size_t round_up(size_t n)
{
    return (n + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
}

/* Whether the directory behind the window (Open MPI's on Linux: /dev/shm
 * unless osc_sm_backing_directory says otherwise) is writable and has room
 * for `total` bytes.  The window must not be tried otherwise: Open MPI maps
 * a file there that it only ftruncate()s, so a window larger than the room
 * left (a container's 64 MiB /dev/shm) ends the job with SIGBUS when its
 * pages are first touched, and a file it cannot create leaves the other
 * ranks waiting inside MPI_Win_allocate_shared for ever. */
static int room_for(size_t total)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    struct statvfs fs;
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (access(dir, W_OK | X_OK) != 0 || statvfs(dir, &fs) != 0)
        return 0;
    return (double)fs.f_bavail * (double)fs.f_frsize >= 1.25 * (double)total + 16.0 * SEG_ALIGN;
}

int exa_node_shm_open(ExaNodeShm *s, const ExaComm *comm, size_t bytes, size_t extra0)
{
    s->comm = comm;
    s->win = MPI_WIN_NULL;
    s->seg = NULL;
    MPI_Comm node;
    int local = 0;
    if (MPI_Comm_split_type(comm->comm, MPI_COMM_TYPE_SHARED, comm->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        exa_comm_abort(comm, "MPI_Comm_split_type: cannot group the ranks by node");
    MPI_Comm_size(node, &local);
    /* every rank sees local < size when the ranks span nodes: all return */
    if (local != comm->size) {
        MPI_Comm_free(&node);
        return EXA_SHM_NODES;
    }
    size_t total = (size_t)comm->size * round_up(bytes + LINE) + round_up(extra0);
    if (exa_comm_max_int(comm, !room_for(total))) { /* all or none */
        MPI_Comm_free(&node);
        return EXA_SHM_ROOM;
    }
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true"); /* each segment where it maps best */
    void *base = NULL;
    size_t mine = round_up(bytes + (comm->rank == 0 ? extra0 : 0) + LINE);
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    int rc = MPI_Win_allocate_shared((MPI_Aint)mine, 1, info, node, &base, &s->win);
    MPI_Info_free(&info);
    MPI_Comm_free(&node); /* the window keeps its own */
    if (rc != MPI_SUCCESS)
        s->win = MPI_WIN_NULL;
    int failed = rc != MPI_SUCCESS;
    if (!failed) {
        s->seg = calloc((size_t)comm->size, sizeof *s->seg);
        failed = !s->seg;
        for (int k = 0; !failed && k < comm->size; k++) {
            MPI_Aint size;
            int unit;
            char *at = NULL;
            failed = MPI_Win_shared_query(s->win, k, &size, &unit, &at) != MPI_SUCCESS || !at;
            if (!failed)
                s->seg[k] = at + (LINE - (uintptr_t)at % LINE) % LINE;
        }
    }
    /* all or none: a rank without its window must not leave the others
     * waiting for its stores */
    int any = exa_comm_max_int(comm, failed ? 1 : 0);
    if (any) {
        if (s->win != MPI_WIN_NULL)
            MPI_Win_free(&s->win);
        free(s->seg), s->seg = NULL;
        return EXA_SHM_FAILED;
    }
    /* a passive epoch for the whole life of the window: MPI_Win_sync needs one */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
    return 0;
}

void exa_node_shm_fence(const ExaNodeShm *s)
{
    MPI_Win_sync(s->win);
}

void exa_node_shm_barrier(const ExaNodeShm *s)
{
    MPI_Win_sync(s->win);
    exa_comm_barrier(s->comm);
    MPI_Win_sync(s->win);
}

void exa_node_shm_close(ExaNodeShm *s)
{
    if (!s->seg)
        return;
    MPI_Win_unlock_all(s->win);
    MPI_Win_free(&s->win);
    free(s->seg), s->seg = NULL;
}
