/* check_numerics.c - --check-numerics: which operation made a loss NaN or
 * infinite.
 *
 * exac compiles, next to the loss, a function loss_check: the same forward
 * pass with every operation on the way to the per-sample loss written to an
 * output slot of its own, in definition order, and the descriptor says for
 * each slot the op and its source position (compiler/ir/lower_check.c).
 * When a mini-batch's loss is not finite, the trainer calls this with the
 * parameters the step started from; the batch is run through loss_check
 * (in chunks, every row on this rank, so every rank finds the same) and the
 * first slot that holds a non-finite number names the culprit: every slot
 * before it is finite, so its operands were finite and the op itself made
 * the NaN or the infinity (log of a negative number, exp overflowing, ...). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exa/run.h"

/* Rows per loss_check call: at most CHUNK, fewer when the probed values of
 * one row are large, so that the probe's buffers stay under PROBE_BYTES. */
enum { CHUNK = 256 };
#define PROBE_BYTES (256.0 * 1024 * 1024)
/* exac probes at most this many operations (LOWER_CHECK_MAX in
 * compiler/ir/lower_check.h): as many slots means the probe was cut short. */
enum { CHECK_MAX = 2048 };

static const char *kind_of(double v)
{
    return isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf";
}

/* The first non-finite parameter, or -1. */
static int bad_param(const ExaRun *r, const void *theta, double *value)
{
    for (int i = 0; i < r->prog->nparams; i++) {
        const ExaParamInfo *q = &r->prog->params[i];
        for (int64_t k = 0; k < q->size; k++)
            if (!isfinite(*value = exa_get(r, theta, q->offset + k)))
                return i;
    }
    return -1;
}

void exa_check_numerics(ExaRun *r, const void *theta, int64_t begin, int64_t count, char *msg,
                        size_t len)
{
    const ExaProgram *p = r->prog;
    double v = 0;
    int param = bad_param(r, theta, &v);
    if (param >= 0) {
        snprintf(msg, len, "parameter %s was already %s when the step began", p->params[param].path,
                 kind_of(v));
        return;
    }
    const ExaFunctionInfo *fi = exa_program_function_of(p, EXA_FN_LOSS_CHECK);
    if (!fi || p->nchecks <= 0 || fi->noutputs != p->nchecks) {
        snprintf(msg, len, "this executable has no numerics probe (compile it again with this exac)");
        return;
    }
    const ExaFunction *fn = &r->fns[fi->index];
    int n = p->nchecks;
    double per_row = 0;
    for (int k = 0; k < n; k++)
        if (p->checks[k].batched)
            per_row += (double)p->checks[k].size * r->elem;
    int64_t rows = count < CHUNK ? count : CHUNK;
    if (per_row * (double)rows > PROBE_BYTES)
        rows = per_row >= PROBE_BYTES ? 1 : (int64_t)(PROBE_BYTES / per_row);
    void **out = calloc((size_t)n, sizeof *out);
    for (int k = 0; out && k < n; k++) {
        const ExaCheckInfo *c = &p->checks[k];
        out[k] = malloc((size_t)((c->batched ? rows : 1) * c->size * r->elem) + 1);
        if (!out[k]) {
            for (int j = 0; j < k; j++)
                free(out[j]);
            free(out);
            out = NULL;
        }
    }
    if (!out) {
        snprintf(msg, len, "out of memory for the numerics probe");
        return;
    }
    int first = n;          /* the earliest slot with a non-finite value */
    int64_t sample = -1;    /* the training sample it is in (batched slots) */
    for (int64_t at = 0; at < count && first > 0; at += rows) {
        int64_t m = count - at < rows ? count - at : rows;
        exa_run_rows(r, fn, theta, out, begin + at, m);
        for (int k = 0; k < first; k++) {
            const ExaCheckInfo *c = &p->checks[k];
            int64_t total = (c->batched ? m : 1) * c->size, e = 0;
            while (e < total && isfinite(exa_get(r, out[k], e)))
                e++;
            if (e < total) {
                first = k;
                v = exa_get(r, out[k], e);
                sample = c->batched ? r->order[begin + at + e / c->size] : -1;
                break;
            }
        }
    }
    for (int k = 0; k < n; k++)
        free(out[k]);
    free(out);
    if (first == n && n >= CHECK_MAX) {
        snprintf(msg, len, "the first %d operations of the forward pass (all that were checked) are "
                           "finite: a later one, or the optimiser's step, made the loss non-finite", n);
        return;
    }
    if (first == n) {
        snprintf(msg, len, "every value of the forward pass is finite at the parameters the step "
                           "began with: the optimiser's step made the loss non-finite (try a smaller --lr)");
        return;
    }
    const ExaCheckInfo *c = &p->checks[first];
    char op[64];
    size_t i = 0;
    for (; c->op[i] && i + 1 < sizeof op; i++)
        op[i] = (char)tolower((unsigned char)c->op[i]);
    op[i] = '\0';
    char where[1200], in_sample[64] = "";
    if (strcmp(c->file, c->user_file) == 0 && c->line == c->user_line && c->col == c->user_col)
        snprintf(where, sizeof where, "%s:%d:%d", c->file, c->line, c->col);
    else
        snprintf(where, sizeof where, "%s:%d:%d, called at %s:%d:%d", c->file, c->line, c->col,
                 c->user_file, c->user_line, c->user_col);
    if (sample >= 0)
        snprintf(in_sample, sizeof in_sample, ", training sample %lld", (long long)sample);
    snprintf(msg, len, "the first non-finite value (%s%s) is made by '%s' at %s", kind_of(v), in_sample,
             op, where);
}
