/* run_options.c - the command line of a training executable.
 *
 * Every bad flag gets one line naming the flag and what is wrong, and exit
 * status 2; --help describes this program (its data, parameters, defaults). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/run.h"

static int bad(const char *flag, const char *what, const char *got)
{
    fprintf(stderr, "exa: %s: %s", flag, what);
    if (got)
        fprintf(stderr, ", got '%s'", got);
    fputc('\n', stderr);
    return 2;
}

static int positive(const char *flag, const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || end == text || v <= 0)
        return bad(flag, "expected a positive integer", text);
    *out = v;
    return 0;
}

static void usage(const ExaProgram *p)
{
    printf("usage: [mpirun -np P] ./train [options]\n"
           "Trains the model of %s (compiled for %s).\n\n"
           "options:\n"
           "  --epochs N          epochs to train (default %lld)\n"
           "  --batch N           global mini-batch size (default %lld)\n"
           "  --lr X              learning rate of the optimiser\n"
           "  --seed N            seed for initialisation and shuffling (default %lld)\n"
           "  --data NAME=PATH    read data set NAME from PATH (NAME.ARG=PATH for one\n"
           "                      file argument of a source with several, e.g. train.labels)\n"
           "  --limit N           train on the first N samples only\n"
           "  --eval-limit N      evaluate on the first N validation samples only\n"
           "  --threads N         threads per rank (OpenBLAS's and exa's kernels)\n"
           "  --checkpoint DIR    write DIR/checkpoint.exa after every epoch\n"
           "  --resume            continue from DIR/checkpoint.exa\n"
           "  --log FILE          one JSON line per epoch\n"
           "  --device cpu|gpu    where to train (default cpu)\n"
           "  --describe          print the compiled program's descriptor\n"
           "  --gradcheck         compare the gradient with central differences (f64 programs)\n"
           "  --gradcompare       layers(mgrit): compare the MGRIT gradient with the serial one\n"
           "  --bench-step N      layers(mgrit): time N loss+gradient evaluations of the first\n"
           "                      mini-batch, MGRIT and serial; print seconds per evaluation\n"
           "  --stop-after N      stop after N epochs of this run, as if killed (for tests)\n"
           "  --check-numerics    when the loss is NaN or infinite, name the operation and\n"
           "                      source line that first made a non-finite value\n"
           "  --quiet             no progress output\n\n",
           p->source ? p->source : "?", p->precision == 4 ? "f32" : "f64", (long long)p->epochs,
           (long long)p->batch, (long long)p->seed);
    for (int i = 0; i < p->ndata; i++) {
        const ExaDataInfo *d = &p->data[i];
        char src[512];
        exa_call_print(d->source, src, sizeof src);
        printf("data %s (%s): %s\n", d->name,
               d->role == EXA_ROLE_TRAIN ? "training" : d->role == EXA_ROLE_VALIDATE ? "validation" : "unused",
               src);
    }
    char opt[512];
    exa_call_print(p->optimizer, opt, sizeof opt);
    printf("optimizer: %s\n", opt);
    if (p->decompose) {
        exa_call_print(p->decompose, opt, sizeof opt);
        printf("decompose: %s\n", opt);
    }
    printf("parameters: %lld in %d tensors\n", (long long)p->nweights, p->nparams);
    for (int i = 0; i < p->nparams; i++) {
        const ExaParamInfo *q = &p->params[i];
        char shape[128];
        exa_shape_format(&q->shape, shape, sizeof shape);
        printf("  %-40s %-16s stage %d\n", q->path, shape, q->stage);
    }
}

int exa_options_parse(int argc, char **argv, const ExaProgram *p, ExaOptions *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = o->batch = o->seed = -1;
    o->lr = -1;
    o->device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(p);
            return 1;
        } else if (strcmp(a, "--resume") == 0) {
            o->resume = 1, takes = 0;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1, takes = 0;
        } else if (strcmp(a, "--describe") == 0) {
            o->describe = 1, takes = 0;
        } else if (strcmp(a, "--gradcheck") == 0) {
            o->gradcheck = 1, takes = 0;
        } else if (strcmp(a, "--gradcompare") == 0) {
            o->gradcompare = 1, takes = 0;
        } else if (strcmp(a, "--check-numerics") == 0) {
            o->check_numerics = 1, takes = 0;
        } else if (!v && a[0] == '-') {
            int known = 0;
            static const char *const valued[] = { "--epochs", "--batch", "--lr", "--seed", "--data",
                                                  "--limit", "--eval-limit", "--threads", "--checkpoint",
                                                  "--log", "--device", "--stop-after", "--bench-step", NULL };
            for (int k = 0; valued[k]; k++)
                known |= strcmp(a, valued[k]) == 0;
            return known ? bad(a, "missing value", NULL) : bad(a, "unknown option (see --help)", NULL);
        } else if (strcmp(a, "--epochs") == 0) {
            rc = positive(a, v, &o->epochs);
        } else if (strcmp(a, "--batch") == 0) {
            rc = positive(a, v, &o->batch);
        } else if (strcmp(a, "--limit") == 0) {
            rc = positive(a, v, &o->limit);
        } else if (strcmp(a, "--bench-step") == 0) {
            rc = positive(a, v, &o->bench_step);
        } else if (strcmp(a, "--eval-limit") == 0) {
            rc = positive(a, v, &o->eval_limit);
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            o->seed = strtoll(v, &end, 10);
            if (*end || end == v || o->seed < 0)
                rc = bad(a, "expected a non-negative integer", v);
        } else if (strcmp(a, "--lr") == 0) {
            char *end;
            o->lr = strtod(v, &end);
            if (*end || end == v || !(o->lr > 0))
                rc = bad(a, "expected a positive number", v);
        } else if (strcmp(a, "--stop-after") == 0) {
            char *end;
            o->stop_after = strtod(v, &end);
            if (*end || end == v || !(o->stop_after > 0))
                rc = bad(a, "expected a positive number of epochs", v);
        } else if (strcmp(a, "--threads") == 0) {
            int64_t t;
            rc = positive(a, v, &t);
            o->threads = (int)t;
        } else if (strcmp(a, "--checkpoint") == 0) {
            o->checkpoint_dir = v;
        } else if (strcmp(a, "--log") == 0) {
            o->log_path = v;
        } else if (strcmp(a, "--device") == 0) {
            if (strcmp(v, "cpu") != 0 && strcmp(v, "gpu") != 0)
                rc = bad(a, "expected cpu or gpu", v);
            o->device = v;
        } else if (strcmp(a, "--data") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1])
                rc = bad(a, "expected NAME=PATH", v);
            else if (o->nover == EXA_MAX_OVERRIDES)
                rc = bad(a, "too many --data flags", NULL);
            else {
                o->over_key[o->nover] = strndup(v, eq - v);
                o->over_path[o->nover++] = eq + 1;
            }
        } else {
            return bad(a, "unknown option (see --help)", NULL);
        }
        if (rc)
            return rc;
        i += takes;
    }
    return 0;
}
