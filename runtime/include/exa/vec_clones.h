/* vec_clones.h - EXA_VEC_CLONES: a loop over reals compiled three times, for
 * x86-64-v4 (AVX-512), x86-64-v3 (AVX2) and the baseline, the one the CPU
 * runs picked when the program loads (GCC's target_clones; libexa is built
 * without -march, since it may be built on a login node and run on compute
 * nodes of another CPU).  The arithmetic is the same in each (ISO C17: no
 * contraction into FMA), only the vectors are wider, so the results do not
 * depend on the CPU.  Used by the optimiser steps (optim.c), data()'s passes
 * over the gradient (grad_sync.c) and MGRIT's vector sums (layers.c). */
#ifndef EXA_VEC_CLONES_H
#define EXA_VEC_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EXA_VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EXA_VEC_CLONES
#endif

#endif
