/* pingpong.c - MPI ping-pong between ranks 0 and 1 (bench/mgrit_scaling.sh):
 * for each message size, the minimum over repetitions of half the round trip. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    static const long sizes[] = { 8, 1024, 8192, 65536, 262144, 1048576 };
    char *buf = calloc(1048576, 1);
    for (int s = 0; s < 6; s++) {
        double best = 1e30;
        for (int rep = 0; rep < 200; rep++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (rank == 0) {
                MPI_Send(buf, (int)sizes[s], MPI_BYTE, 1, 1, MPI_COMM_WORLD);
                MPI_Recv(buf, (int)sizes[s], MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else if (rank == 1) {
                MPI_Recv(buf, (int)sizes[s], MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, (int)sizes[s], MPI_BYTE, 0, 1, MPI_COMM_WORLD);
            }
            double t = (MPI_Wtime() - t0) / 2;
            if (t < best)
                best = t;
        }
        if (rank == 0)
            printf("pingpong: %ld bytes %.3e s\n", sizes[s], best);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
