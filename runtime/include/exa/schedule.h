/* schedule.h - learning-rate schedules and gradient clipping of the train
 * block (`schedule = ...; clip = ...;`, docs/language.md).
 *
 * A schedule is a factor on the optimiser's learning rate, a pure function
 * of the optimiser step (0-based, counted over the whole run as ExaRun.step
 * is) and the run's total number of steps: nothing but that step count is
 * state, and the checkpoint already holds it, so a resumed run continues on
 * the same curve bit for bit.
 *
 *   constant            1 (no schedule)
 *   warmup(steps: W)    linear warm-up: (s + 1) / W for s < W, then 1
 *   step_decay(every: E, gamma: G, warmup: W)
 *                       G ^ floor(s / (E * steps_per_epoch)) after the warm-up
 *   cosine(min_factor: m, warmup: W)
 *                       m + (1 - m) (1 + cos(pi p)) / 2 with
 *                       p = (s - W) / (total - W), after the warm-up
 *                       (CosineAnnealingLR with eta_min = m lr, over the run)
 * During a warm-up of W steps every schedule is (s + 1) / W (PyTorch's
 * LinearLR from 1/W, as get_*_schedule_with_warmup of transformers). */
#ifndef EXA_SCHEDULE_H
#define EXA_SCHEDULE_H

#include <stdint.h>

#include "exa/program.h"

typedef enum ExaScheduleKind { EXA_SCHED_CONSTANT, EXA_SCHED_WARMUP, EXA_SCHED_STEP, EXA_SCHED_COSINE } ExaScheduleKind;

typedef struct ExaSchedule {
    ExaScheduleKind kind;
    int64_t warmup;           /* steps */
    int64_t every;            /* step_decay: epochs */
    double gamma;             /* step_decay */
    double min_factor;        /* cosine: the factor it ends at */
} ExaSchedule;

/* The schedule of a descriptor's `setting schedule` call (NULL: constant);
 * 0, or -1 with a one-line message in err for a name this libexa lacks. */
int exa_schedule_parse(const ExaCall *c, ExaSchedule *s, char *err, int errlen);
/* The factor on every SGD and Adam learning rate at 0-based step `step` of `total`, with
 * steps_per_epoch optimiser steps in an epoch. */
double exa_schedule_factor(const ExaSchedule *s, int64_t step, int64_t total,
                           int64_t steps_per_epoch);

/* Scales g (n values of elem bytes: 4 or 8) so that its 2-norm is at most
 * max_norm (torch.nn.utils.clip_grad_norm_); returns the norm before. */
double exa_clip_grad_norm(void *g, int64_t n, int elem, double max_norm);
/* The scaling alone, for a vector whose norm was found elsewhere (a rank's
 * part of a gradient split over ranks: methods/part.c). */
void exa_clip_grad_scale(void *g, int64_t n, int elem, double norm, double max_norm);

#endif
