/* allreduce_peak.c - the best time (of 200) of one in-place sum of N floats
 * over the ranks: blocking MPI_Allreduce, MPI_Iallreduce completed by polling
 * MPI_Test (what exa's comm.c does), and the same sum cut into 7 buckets in
 * flight together.  Best of many, so a shared machine's quiet moments show.
 * OMPI_MCA_coll_libnbc_iallreduce_algorithm chooses Open MPI's algorithm
 * (bench/parallel_efficiency.sh prints the default and exa's choice).
 *
 * usage: mpirun -np 2 allreduce_peak N... */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static void poll_all(MPI_Request *r, int n)
{
    int done = 0;
    while (!done)
        MPI_Testall(n, r, &done, MPI_STATUSES_IGNORE);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int a = 1; a < argc; a++) {
        int n = atoi(argv[a]);
        float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
        for (int i = 0; i < n; i++)
            x[i] = 1;
        double best[3] = { 1e9, 1e9, 1e9 };
        for (int rep = 0; rep < 200; rep++)
            for (int k = 0; k < 3; k++) {
                MPI_Barrier(MPI_COMM_WORLD);
                double t = MPI_Wtime();
                MPI_Request r[7];
                if (k == 0) {
                    MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                } else if (k == 1) {
                    MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
                    poll_all(r, 1);
                } else {
                    int c = n / 7;
                    for (int j = 0; j < 7; j++)
                        MPI_Iallreduce(MPI_IN_PLACE, x + j * c, j == 6 ? n - 6 * c : c, MPI_FLOAT, MPI_SUM,
                                       MPI_COMM_WORLD, &r[j]);
                    poll_all(r, 7);
                }
                t = MPI_Wtime() - t;
                best[k] = t < best[k] ? t : best[k];
            }
        if (rank == 0)
            printf("%d floats: MPI_Allreduce %.1f us, MPI_Iallreduce %.1f us, 7 buckets %.1f us\n", n,
                   best[0] * 1e6, best[1] * 1e6, best[2] * 1e6);
        free(x);
    }
    MPI_Finalize();
    return 0;
}
