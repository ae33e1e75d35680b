/* neurons.h - the neurons() method's state, shared by neurons.c (the dense
 * layers split by output neurons, the step) and neurons_front.c (the
 * convolutional front split by image rows: domain parallelism). */
#ifndef EXA_METHODS_NEURONS_H
#define EXA_METHODS_NEURONS_H

#include "part.h"
#include "solver.h"

/* One dense layer: rank k holds rows [off[k], off[k] + cnt[k]) of W and b. */
typedef struct NLayer {
    int64_t n, m;       /* inputs, outputs */
    int64_t w, b;       /* offsets of W and b in the parameter vector */
    int relu;
    int site;           /* its dropout site, or -1 */
    int *cnt, *off;     /* per rank: rows of this layer, first row */
    /* batch_norm before its relu (bn): offsets of g and b, the running
     * statistics' slots in run.h's stat_batch; this rank's rows' normalised
     * outputs [c, B], mean and 1 / sqrt(variance + eps), 2 c sums, and the
     * layer's statistics gathered over the rows [m] */
    int bn, smean, svar;
    int64_t go, gb;
    double *xhat, *mu, *inv, *sums, *stat;
} NLayer;

/* One convolution (stride 1, relu or not) or max pooling of the front: rank
 * k computes output rows [lo[k], hi[k]) from input rows [need0[k], need1[k])
 * (conv: rows outside the image are its zero padding). */
typedef struct NSpatial {
    int conv, relu;
    int64_t c, h, w;          /* input image */
    int64_t o, oh, ow;        /* output image */
    int64_t k, pad, win, st;  /* conv kernel and padding; pool window and stride */
    int64_t wo, bo;           /* conv: offsets of W [o, c, k, k] and b [o] */
    int *lo, *hi, *need0, *need1;
    int64_t hr, wp;           /* this rank's input slab: rows, columns (w + 2 pad) */
    double *slab, *dslab;     /* [B, c, hr, wp]: kept for the backward pass */
    double *out, *dout;       /* [B, o, hi - lo, ow] of this rank */
    double *wt, *scratch;     /* conv: W in double; im2col */
    /* conv with batch_norm2d before its relu (bn): the offsets of g, b and of
     * the running mean and variance, their slots in run.h's stat_batch; the
     * step's normalised outputs [B, o, hi - lo, ow], per channel the batch
     * mean and 1 / sqrt(variance + eps), and 2 o sums for the collectives */
    int bn, smean, svar;
    int64_t go, gb;
    double *xhat, *mu, *inv, *sums;
} NSpatial;

typedef struct Neurons {
    ExaMethod base;
    Stepper global;     /* second: the train block's optimiser (SteppedMethod) */
    int L;              /* dense layers */
    NLayer *lay;
    int S;              /* the front's convolutions and poolings (0: none) */
    NSpatial *sp;
    double *flat;       /* the flatten's exchange buffer, [F, cap] */
    int64_t wmax;       /* largest layer width (features) */
    int64_t cap;        /* samples the buffers hold */
    double **act;       /* L + 1 activations, [features, cap]: act[0] the dense input */
    double **pre;       /* L: this rank's rows of Z_l, [c, cap] */
    double *dz, *da, *part, *g, *wt, *mask;
    int *cnt, *dsp;     /* scratch for the collectives */
    int64_t btot;       /* batch_norm2d: the samples of the step over the grid's columns */
    int capture;        /* batch_norm2d: this evaluation's statistics go to run.h's stat_batch */
    double cols_words;  /* words of batch_norm2d's sums over cols since the grid's last report */
    const ExaComm *cols; /* a grid's row of ranks, which split the batch (batch_norm2d's sums); NULL: none */
    int drop;           /* EXA_TEST_DROP: 1 row_reduce, 2 conv_allreduce, 3 bn_allreduce (tests only) */
    ExaParamPart *owned; /* owned rows (part.h): this rank's rows of every W, b; NULL: replicated */
    double words;       /* words this rank moved in the collectives since the last report (ring */
    double evals;       /* counting, as grid_cost.c does) and the gradients computed meanwhile */
} Neurons;

/* Counts a collective of the rows for the report: an all-gather or
 * reduce-scatter of the blocks cnt over the ranks moves all but this rank's
 * block through it (a ring's (P - 1)/P of the whole, on average over the
 * ranks); an allreduce of n words twice (P - 1)/P n. */
static inline void neurons_count_blocks(Neurons *N, const int *cnt)
{
    for (int k = 0; k < N->base.comm.size; k++)
        N->words += k == N->base.comm.rank ? 0 : cnt[k];
}
static inline void neurons_count_allreduce(Neurons *N, double n)
{
    N->words += 2.0 * (N->base.comm.size - 1) / N->base.comm.size * n;
}

/* batch_norm's and batch_norm2d's params and stat_batch slots (their
 * running mean and variance among the program's batchstat records) of the
 * layer record cl with n channels or features; 0 or -1 with err (neurons_front.c). */
int neurons_bn_params(const ExaProgram *p, const ExaChainLayer *cl, int64_t n, int64_t *go, int64_t *gb, int *smean,
                      int *svar, char *err, size_t errlen);
/* A sum of batch-norm statistics over the rows' ranks (rows) and the grid's
 * columns (neurons_front.c). */
void neurons_bn_sum(Neurons *N, double *v, size_t n, int rows);

/* neurons_front.c: the front from the descriptor's conv/pool/flatten
 * records (layers [0, *first_dense)); 0 or -1 with the reason in err. */
int neurons_front_create(Neurons *N, int *first_dense, char *err, size_t errlen);
void neurons_front_reserve(Neurons *N, int64_t B);
/* The images of rows [begin, begin + B) of the epoch's order through the
 * front into N->act[0] ([features, B], on every rank). */
void neurons_front_forward(Neurons *N, const void *theta, int64_t begin, int64_t B);
/* From this rank's partial gradient of the dense input (part, [features, B])
 * back through the front: the convolutions' parameter gradients (this
 * rank's rows' part) into N->g. */
void neurons_front_backward(Neurons *N, const void *theta, double *part, int64_t B);
/* The convolutions' parameter gradients summed over the ranks. */
void neurons_front_sum(Neurons *N);
void neurons_front_free(Neurons *N);

#endif
