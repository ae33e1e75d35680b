/* autodiff.h - automatic differentiation as IR-to-IR passes.
 *
 * Reverse mode (ad_vjp) appends to a function the adjoint computation of one
 * value, giving the gradient with respect to every value it depends on: the
 * parameters for training, a stage's input state for layer-parallel methods.
 * Forward mode (ad_jvp) appends the derivative of a value along one input
 * direction: d(u(p), p[0]) in a physics-informed loss; applied twice it gives
 * d2.  Both emit only ordinary IR ops, so a JVP graph can itself be
 * differentiated in reverse (the gradient of a PINN loss). */
#ifndef EXA_AUTODIFF_H
#define EXA_AUTODIFF_H

#include "ir.h"

/* Appends the adjoints of sum(seed * out) to f, where seed is broadcast to
 * out's shape.  adj must have room for f->n entries as the function was on
 * entry; on return adj[i] is the adjoint of value i (same shape and batching
 * as value i), or -1 where value i does not influence out.  Returns 0, or -1
 * (with *why set) when an op on the path has no derivative rule. */
int ad_vjp(IrFunc *f, IrId out, IrId seed, IrId *adj, const char **why);

/* The same, for the parameter gradient only: values that depend on model
 * inputs but on no parameter get no adjoint (the input gradient of a first
 * layer is a whole GEMM nobody needs). */
int ad_vjp_params(IrFunc *f, IrId out, IrId seed, IrId *adj, const char **why);

/* Appends the derivative of out along the unit vector e_k of the input value
 * `input` (flat index k).  Returns its id, or -1 (with *why set) when an op on
 * the path has no forward rule.  A value independent of input gets a zero
 * FILL. */
IrId ad_jvp(IrFunc *f, IrId input, int64_t k, IrId out, const char **why);

#endif
