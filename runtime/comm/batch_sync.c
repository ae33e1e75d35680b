/* batch_sync.c - the communicator batch statistics are summed over.
 *
 * batch_mean (stdlib/nn.exa's batch_norm) needs the mean of a value over the
 * whole mini-batch inside the forward pass; under `split data` the batch's
 * rows are spread over ranks, so the generated code sums each statistic over
 * them (IR_ALLREDUCE, exa_k_batch_sum).  The generated functions take no
 * communicator, so exa_run_loss_on names the one its call is split over
 * here for the duration of the call; outside such a call (one rank, a
 * rank's local steps, evaluation) there is none and the sum is a rank's own.
 * Every rank of the communicator runs the same function on its share, so
 * they reach the same sums in the same order. */
#include "exa/comm.h"
#include "exa/kernels.h"

static const ExaComm *batch_comm;

const ExaComm *exa_batch_sync(const ExaComm *c)
{
    const ExaComm *old = batch_comm;
    batch_comm = c && c->size > 1 ? c : NULL;
    return old;
}

void exa_batch_sum(void *y, int64_t n, int elem, int64_t batch, int weighted)
{
    const ExaComm *c = batch_comm;
    if (!c || n <= 0)
        return;
    /* weighted (an adjoint): each rank's gradient is of its own mean loss
     * and is weighted by its rows afterwards (run_model.c), so the ranks'
     * adjoints are summed in proportion to their rows, over this rank's */
    double w = weighted ? (double)batch : 1;
    if (elem == 4) {
        float *x = y;
        for (int64_t i = 0; weighted && i < n; i++)
            x[i] = (float)(x[i] * w);
        exa_comm_allreduce_sum(c, x, (size_t)n, EXA_REAL_F32);
        for (int64_t i = 0; weighted && i < n; i++)
            x[i] = (float)(x[i] / w);
    } else {
        double *x = y;
        for (int64_t i = 0; weighted && i < n; i++)
            x[i] *= w;
        exa_comm_allreduce_sum(c, x, (size_t)n, EXA_REAL_F64);
        for (int64_t i = 0; weighted && i < n; i++)
            x[i] /= w;
    }
}
