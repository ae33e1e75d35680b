/* run_options.c - the command line of a training executable.
 *
 * Every bad flag gets one line naming the flag and what is wrong, and exit
 * status 2; --help describes this program (its data, parameters, defaults). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/parallel.h"
#include "exa/run.h"

static int bad(const char *flag, const char *what, const char *got)
{
    fprintf(stderr, "exa: %s: %s", flag, what);
    if (got)
        fprintf(stderr, ", got '%s'", got);
    fputc('\n', stderr);
    return 2;
}

/* A decimal integer in lo .. hi: digits only (no sign, no blanks, no
 * trailing text), and out of range is an error, not a saturated or
 * truncated value.  The message says which integers are accepted. */
static int integer(const char *flag, const char *text, long long lo, long long hi, long long *out)
{
    char *end = (char *)text;
    long long v = 0;
    errno = 0;
    if (isdigit((unsigned char)text[0]))
        v = strtoll(text, &end, 10);
    if (errno || *end || end == text || v < lo || v > hi) {
        char what[96];
        if (hi == LLONG_MAX)
            snprintf(what, sizeof what, "expected a %s integer%s", lo == 1 ? "positive" : "non-negative",
                     errno == ERANGE ? " (at most 9223372036854775807)" : "");
        else
            snprintf(what, sizeof what, "expected an integer from %lld to %lld", lo, hi);
        return bad(flag, what, text);
    }
    *out = v;
    return 0;
}

static int positive(const char *flag, const char *text, int64_t *out)
{
    long long v;
    int rc = integer(flag, text, 1, LLONG_MAX, &v);
    if (!rc)
        *out = v;
    return rc;
}

/* A finite positive number: strtod also reads "inf", "nan", "1e999" (as
 * infinity) and hexadecimal floats, and a learning rate of infinity is as
 * wrong as NaN. */
static int positive_real(const char *flag, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end || end == text || isspace((unsigned char)text[0]) || !isfinite(v) || !(v > 0) ||
        (errno == ERANGE && v < 1e-300))
        return bad(flag, "expected a positive finite number", text);
    *out = v;
    return 0;
}

/* The usage line names the executable as it was run (argv[0] as given, so
 * that it can be copied: "./fashion_mlp", "build/fashion_mlp"). */
/* The compiler's list of strategies that fit, less those this executable
 * cannot switch to at run time: layer-parallel methods need what exac writes
 * only for a program compiled with one (MGRIT's stage functions, pdADMM's
 * compiled line; runtime/core/decompose.c refuses them otherwise). */
static void print_runnable_fits(const ExaProgram *p)
{
    const int mgrit = exa_program_function_of(p, EXA_FN_STAGE_STEP) != NULL, chain = p->nlayers > 0;
    /* pdADMM runs only where it was compiled (decompose.c); neurons() where
     * exac wrote the chain, which it does whenever the chain fits */
    const ExaValue *was = p->decompose && !strcmp(p->decompose->name, "layers") && p->decompose->nargs
                        ? &p->decompose->values[0] : NULL;
    const int admm = chain && was && was->kind == EXA_CALL && !strcmp(was->call->name, "admm");
    printf("strategies that fit (--decompose):");
    const char *sep = " ", *at = p->fit_list;
    while (*at) {
        size_t n = 0;
        for (int depth = 0; at[n] && (depth > 0 || at[n] != ','); n++) /* items hold commas in (...) */
            depth += (at[n] == '(') - (at[n] == ')');
        int neurons_grid = !strncmp(at, "grid(rows: neurons", 18);
        int runnable = !((!strncmp(at, "layers(admm", 11) && !admm) || (!strncmp(at, "neurons(", 8) && !chain)
                         || (neurons_grid && !chain)
                         || ((!strncmp(at, "layers(mgrit", 12) || (!strncmp(at, "grid(", 5) && !neurons_grid))
                             && !mgrit));
        if (runnable)
            printf("%s%.*s", sep, (int)n, at), sep = ", ";
        at += n;
        at += strspn(at, ", ");
    }
    printf("\n");
}

static void usage(const ExaProgram *p, const char *argv0)
{
    printf("usage: [mpirun -np P] %s [options]\n"
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
           "  --threads N         threads per rank, 1 to 64 (every kernel, GEMMs included)\n"
           "  --checkpoint DIR    write DIR/checkpoint.exa after every epoch\n"
           "  --resume            continue from DIR/checkpoint.exa\n"
           "  --log FILE          one JSON line per epoch\n"
           "  --device cpu|gpu    where to train (default: the train block's device, else cpu)\n"
           "  --predict FILE      run the trained model on FILE's inputs (.npy, .csv or IDX,\n"
           "                      read as the training set's), no training; needs --out\n"
           "  --out FILE          --predict's outputs as .npy (N, output shape); a classifier's\n"
           "                      classes also in FILE with .npy -> .classes.npy (int32)\n"
           "  --eval              evaluate the trained weights on the validation set, no training\n"
           "                      (the weights: --import DIR, else the checkpoint of --checkpoint)\n"
           "  --export DIR        write every parameter as DIR/NAME.npy at the end of the run\n"
           "                      (NAME as exac --emit=shapes prints it)\n"
           "  --import DIR        start from the parameters in DIR/NAME.npy instead of the\n"
           "                      initialisers\n"
           "  --decompose S       train with strategy S instead of the program's decompose\n"
           "                      line, e.g. 'sapts(local_steps: 5)' (those that fit: below)\n"
           "  --describe          print the compiled program's descriptor (its 'fit' and\n"
           "                      'strategy' lines: the strategies --decompose accepts)\n"
           "  --gradcheck         compare the gradient with central differences (f64 programs)\n"
           "  --gradcompare       layers(mgrit): compare the MGRIT gradient with the serial one\n"
           "  --admm-check        layers(admm): check every update of 3 iterations (from the\n"
           "                      checkpoint with --resume) against its subproblem,\n"
           "                      and exit\n"
           "  --multilevel-check  multilevel(mgopt|rmtr): check the hierarchy's transfers, the\n"
           "                      coarse models' first-order coherence and the line search\n"
           "                      on the first mini-batch, and exit\n"
           "  --bench-step N      layers(mgrit): time N loss+gradient evaluations of the first\n"
           "                      mini-batch, MGRIT and serial; print seconds per evaluation\n"
           "  --grid-plan P       grid(rows: neurons(), ...): print the cost model's table of\n"
           "                      every P = rows x cols grid (shape: auto takes the cheapest)\n"
           "                      and exit; alpha, beta, rate measured under mpirun, else\n"
           "                      from EXA_GRID_COST=\"alpha beta rate\"\n"
           "  --stop-after N      stop after N epochs of this run, as if killed (for tests)\n"
           "  --check-numerics    when the loss is NaN or infinite, name the operation and\n"
           "                      source line that first made a non-finite value\n"
           "  --quiet             no progress output\n\n",
           argv0, p->source ? p->source : "?", p->precision == 4 ? "f32" : "f64", (long long)p->epochs,
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
    if (p->fit_list)
        print_runnable_fits(p);
    printf("parameters: %lld in %d tensors\n", (long long)p->nweights, p->nparams);
    for (int i = 0; i < p->nparams; i++) {
        const ExaParamInfo *q = &p->params[i];
        char shape[128];
        exa_shape_format(&q->shape, shape, sizeof shape);
        printf("  %-40s %-16s stage %d\n", q->path, shape, q->stage);
    }
}

static int takes_value(const char *flag)
{
    static const char *const valued[] = { "--epochs", "--batch", "--lr", "--seed", "--data",
                                          "--limit", "--eval-limit", "--threads", "--checkpoint",
                                          "--log", "--device", "--stop-after", "--bench-step", "--predict",
                                          "--out", "--export", "--import", "--decompose", "--grid-plan", NULL };
    for (int k = 0; valued[k]; k++)
        if (strcmp(flag, valued[k]) == 0)
            return 1;
    return 0;
}

int exa_options_parse(int argc, char **argv, const ExaProgram *p, ExaOptions *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = o->batch = o->seed = -1;
    o->lr = -1;
    o->device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(p, argc > 0 && argv[0] ? argv[0] : "train");
            return 1;
        } else if (strcmp(a, "--resume") == 0) {
            o->resume = 1, takes = 0;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1, takes = 0;
        } else if (strcmp(a, "--describe") == 0) {
            o->describe = 1, takes = 0;
        } else if (strcmp(a, "--gradcheck") == 0) {
            o->gradcheck = 1, takes = 0;
        } else if (strcmp(a, "--eval") == 0) {
            o->eval = 1, takes = 0;
        } else if (strcmp(a, "--gradcompare") == 0) {
            o->gradcompare = 1, takes = 0;
        } else if (strcmp(a, "--check-numerics") == 0) {
            o->check_numerics = 1, takes = 0;
        } else if (strcmp(a, "--admm-check") == 0) {
            o->admm_check = 1, takes = 0;
        } else if (strcmp(a, "--multilevel-check") == 0) {
            o->multilevel_check = 1, takes = 0;
        } else if (takes_value(a) && (!v || !*v)) {
            /* an empty value is no value: --checkpoint "" would be the
             * root directory, --log "" a file that cannot exist */
            return bad(a, v ? "the value is empty" : "missing value", NULL);
        } else if (!v && a[0] == '-') {
            return bad(a, "unknown option (see --help)", NULL);
        } else if (strcmp(a, "--epochs") == 0) {
            rc = positive(a, v, &o->epochs);
        } else if (strcmp(a, "--batch") == 0) {
            rc = positive(a, v, &o->batch);
        } else if (strcmp(a, "--limit") == 0) {
            rc = positive(a, v, &o->limit);
        } else if (strcmp(a, "--bench-step") == 0) {
            rc = positive(a, v, &o->bench_step);
        } else if (strcmp(a, "--grid-plan") == 0) {
            rc = positive(a, v, &o->grid_plan);
        } else if (strcmp(a, "--eval-limit") == 0) {
            rc = positive(a, v, &o->eval_limit);
        } else if (strcmp(a, "--seed") == 0) {
            long long seed = -1;
            rc = integer(a, v, 0, INT64_MAX, &seed);
            o->seed = seed;
        } else if (strcmp(a, "--lr") == 0) {
            rc = positive_real(a, v, &o->lr);
        } else if (strcmp(a, "--stop-after") == 0) {
            int64_t n = 0;
            rc = positive(a, v, &n);
            o->stop_after = (double)n;
        } else if (strcmp(a, "--threads") == 0) {
            /* exa's own pool has at most EXA_MAX_THREADS; more is refused,
             * not clamped or truncated to int */
            long long t = 0;
            rc = integer(a, v, 1, EXA_MAX_THREADS, &t);
            o->threads = (int)t;
        } else if (strcmp(a, "--checkpoint") == 0) {
            o->checkpoint_dir = v;
        } else if (strcmp(a, "--predict") == 0) {
            o->predict_path = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out_path = v;
        } else if (strcmp(a, "--export") == 0) {
            o->export_dir = v;
        } else if (strcmp(a, "--import") == 0) {
            o->import_dir = v;
        } else if (strcmp(a, "--decompose") == 0) {
            o->decompose = v;
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
            else if ((size_t)(eq - v) >= sizeof o->over_key[0])
                rc = bad(a, "NAME is too long", v);
            else {
                /* the key is copied into the options (it used to be
                 * strndup'd and never freed) */
                memcpy(o->over_key[o->nover], v, (size_t)(eq - v));
                o->over_key[o->nover][eq - v] = '\0';
                o->over_path[o->nover++] = eq + 1;
            }
        } else {
            return bad(a, "unknown option (see --help)", NULL);
        }
        if (rc)
            return rc;
        i += takes;
    }
    /* the modes that use a model, and what they cannot be combined with */
    if (o->predict_path && !o->out_path)
        return bad("--predict", "needs --out FILE for the outputs", NULL);
    if (o->out_path && !o->predict_path)
        return bad("--out", "only with --predict FILE", NULL);
    if (o->predict_path && o->eval)
        return bad("--eval", "cannot be combined with --predict", NULL);
    if ((o->predict_path || o->eval) && o->resume)
        return bad("--resume", o->eval ? "cannot be combined with --eval (it reads the checkpoint itself)"
                                       : "cannot be combined with --predict (it reads the checkpoint itself)",
                   NULL);
    if (o->import_dir && o->resume)
        return bad("--import", "cannot be combined with --resume: both give the starting weights", NULL);
    if (o->predict_path && o->export_dir)
        return bad("--export", "cannot be combined with --predict", NULL);
    if (!o->device) { /* the train block's `device = gpu;`, else the CPU */
        const ExaSetting *dev = exa_program_setting(p, "device");
        o->device = dev && (dev->value.kind == EXA_IDENT || dev->value.kind == EXA_STR) ? dev->value.str : "cpu";
    }
    return 0;
}
