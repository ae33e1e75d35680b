/* admm.h - pdADMM's variables and updates for one dense-relu layer
 * (admm_update.c), shared by the method (admm.c).
 *
 * Per layer l (0-based here; the paper counts from 1) over the N samples of
 * the full batch, rows = samples, row-major, all in double:
 *   p  N x n   input (p_0 = x, never updated)
 *   W  m x n, b m
 *   z  N x m   pre-activation
 *   q  N x m   output, coupled to the next layer's input by p_{l+1} = q_l
 *   u  N x m   dual of that coupling (q and u: every layer but the last)
 * The problem (paper, Problem 2, with the coupling in the Lagrangian):
 *   F = CE(z_L; y) + nu/2 sum_l ||z_l - W_l p_l - b_l||^2
 *                  + nu/2 sum_{l<L} ||q_l - relu(z_l)||^2
 *   L_rho = F + sum_{l<L} <u_l, p_{l+1} - q_l> + rho/2 ||p_{l+1} - q_l||^2
 * CE is summed over samples, as the reference code does.  With nu = rho
 * (the default) every update below is the reference's (METHODS.md). */
#ifndef EXA_ADMM_H
#define EXA_ADMM_H

#include <stdint.h>

typedef struct AdmmLayer {
    int64_t n, m;         /* inputs, outputs */
    int last;             /* the output layer: no relu, no q and u */
    double *W, *b;
    double *p, *z, *q, *u;
} AdmmLayer;

/* What the updates share: sizes, penalties, labels, scratch. */
typedef struct AdmmCtx {
    int64_t N;
    double rho, nu;
    const int32_t *label;   /* N class labels (the last layer's z) */
    double *a, *g, *t;      /* scratch: N x max(m), N x max(n, m), N x max(n, m) */
    double *gw, *tw;        /* scratch: max(m x n) */
    double *s1, *s2;        /* scratch: N x m of the last layer (FISTA's iterates) */
    int backtracks_capped;  /* a backtracking loop hit its cap (counted, reported) */
} AdmmCtx;

/* a = W p + b (N x m) into c->a. */
void admm_affine(AdmmCtx *c, const AdmmLayer *l, const double *p);

/* The subproblem objectives, each with the others' variables fixed.
 * qprev, uprev: the previous layer's q and u (for p). pnext: the next
 * layer's p (for q). */
double admm_obj_p(AdmmCtx *c, const AdmmLayer *l, const double *p, const double *qprev, const double *uprev);
double admm_obj_fit(AdmmCtx *c, const AdmmLayer *l);                 /* W and b: nu/2||z - Wp - b||^2 */
double admm_obj_z(AdmmCtx *c, const AdmmLayer *l, const double *z);  /* hidden or last, at current W, b, p */
double admm_obj_q(const AdmmCtx *c, const AdmmLayer *l, const double *q, const double *pnext);
double admm_ce(const AdmmCtx *c, const double *z, int64_t m);       /* sum of cross-entropies */

/* The updates, in the reference's order within one iteration. */
void admm_update_p(AdmmCtx *c, AdmmLayer *l, const double *qprev, const double *uprev);
void admm_update_W(AdmmCtx *c, AdmmLayer *l);
void admm_update_b(AdmmCtx *c, AdmmLayer *l);
void admm_update_z(AdmmCtx *c, AdmmLayer *l);   /* closed form (relu) or FISTA (last) */
void admm_update_q(AdmmCtx *c, AdmmLayer *l, const double *pnext);
void admm_update_u(AdmmCtx *c, AdmmLayer *l, const double *pnext);

/* Sum of squares of x - y (n values). */
double admm_dist2(const double *x, const double *y, int64_t n);

#endif
