/* use.c - using a trained model: --predict, --eval, --export, --import.
 *
 * The weights come from --import DIR (one .npy per parameter) or else from
 * the checkpoint of the run's checkpoint directory (--checkpoint DIR or the
 * program's checkpoint setting); --predict and --eval refuse to run on
 * untrained weights.  A parameter "classify/dense#1/W" (exac --emit=shapes)
 * is the file DIR/classify/dense#1/W.npy, holding its declared shape; the
 * files have the program's precision (f4 or f8) and any real or integer
 * dtype is read, so weights made in NumPy or PyTorch load as they are. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exa/checkpoint.h"
#include "exa/npy.h"
#include "exa/run.h"

static int same_shape(const ExaShape *a, const ExaShape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static void shape_text(const ExaShape *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "(");
    for (int i = 0; i < s->rank && n < (int)len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    if (n < (int)len)
        snprintf(buf + n, len - (size_t)n, "%s)", s->rank == 1 ? "," : "");
}

/* mkdir -p of the directories of path (not its last part). */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "exa: %s: cannot create the directory: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int exa_use_export(ExaRun *r, const char *dir, char *err, size_t errlen)
{
    if (r->world.rank != 0)
        return 0;
    for (int i = 0; i < r->prog->nparams; i++) {
        const ExaParamInfo *q = &r->prog->params[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, q->path);
        if (make_parents(path, err, errlen) != 0 ||
            exa_npy_write(path, (const char *)r->theta + q->offset * r->elem, 'f', r->elem, &q->shape, err,
                          errlen) != 0)
            return -1;
    }
    return 0;
}

/* --import: every .npy under DIR must name a parameter (nftw walks it). */
static const ExaProgram *walk_prog;
static const char *walk_dir;
static char *walk_err;
static size_t walk_errlen;

static int check_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    size_t len = strlen(path), dl = strlen(walk_dir);
    if (type != FTW_F || len < 4 || strcmp(path + len - 4, ".npy") != 0)
        return 0;
    const char *rel = path + dl;
    while (*rel == '/')
        rel++;
    size_t rl = strlen(rel) - 4;
    for (int i = 0; i < walk_prog->nparams; i++)
        if (strlen(walk_prog->params[i].path) == rl && strncmp(walk_prog->params[i].path, rel, rl) == 0)
            return 0;
    snprintf(walk_err, walk_errlen, "exa: --import: %s: the model has no parameter '%.*s' (exac "
             "--emit=shapes lists its parameters)", path, (int)rl, rel);
    return 1;
}

int exa_use_import(ExaRun *r, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "exa: --import: %s: not a directory", dir);
        return -1;
    }
    walk_prog = r->prog, walk_dir = dir, walk_err = err, walk_errlen = errlen;
    if (nftw(dir, check_entry, 16, FTW_PHYS) != 0)
        return -1;
    for (int i = 0; i < r->prog->nparams; i++) {
        const ExaParamInfo *q = &r->prog->params[i];
        char path[4096], want[128], got[128];
        snprintf(path, sizeof path, "%s/%s.npy", dir, q->path);
        if (access(path, F_OK) != 0) {
            snprintf(err, errlen, "exa: --import: %s: missing: parameter '%s' has no file", path, q->path);
            return -1;
        }
        double *v = NULL;
        ExaShape s;
        if (exa_npy_read_reals(path, &v, &s, err, errlen) != 0)
            return -1;
        if (!same_shape(&s, &q->shape)) {
            shape_text(&q->shape, want, sizeof want);
            shape_text(&s, got, sizeof got);
            snprintf(err, errlen, "exa: --import: %s: has shape %s, but parameter '%s' is %s", path, got,
                     q->path, want);
            free(v);
            return -1;
        }
        for (int64_t k = 0; k < q->size; k++) {
            if (!isfinite(v[k]) || (r->elem == 4 && fabs(v[k]) > 3.4028234663852886e38)) {
                snprintf(err, errlen, "exa: --import: %s: element %lld is %g, not a finite %s", path,
                         (long long)k, v[k], r->elem == 4 ? "float32" : "float64");
                free(v);
                return -1;
            }
            exa_set(r, r->theta, q->offset + k, v[k]);
        }
        free(v);
    }
    return 0;
}

int exa_load_checkpoint(ExaRun *r, const char *path, ExaCheckpoint *c, char *err, size_t errlen)
{
    if (exa_checkpoint_read(path, c, -1, -1, err, errlen) != 0)
        return -1;
    int rc = exa_checkpoint_check_model(c, r->prog, path, err, errlen);
    if (!rc && (c->nparams != r->n || c->precision != r->elem))
        rc = -1, snprintf(err, errlen, "exa: %.512s: holds %lld f%d parameters, the model has %lld f%d", path,
                          (long long)c->nparams, 8 * c->precision, (long long)r->n, 8 * r->elem);
    if (rc) {
        exa_checkpoint_free(c);
        return -1;
    }
    memcpy(r->theta, c->params, (size_t)r->n * r->elem);
    return 0;
}

int exa_use_checkpoint(ExaRun *r, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.exa", dir);
    ExaCheckpoint c;
    if (exa_load_checkpoint(r, path, &c, err, errlen) != 0)
        return -1;
    exa_checkpoint_free(&c);
    return 0;
}

int exa_use_trained_weights(ExaRun *r, const char *flag, const char *ckpt_dir, char *err, size_t errlen)
{
    if (r->opt.import_dir)
        return exa_use_import(r, r->opt.import_dir, err, errlen);
    if (ckpt_dir)
        return exa_use_checkpoint(r, ckpt_dir, err, errlen);
    snprintf(err, errlen, "exa: %s: no trained weights: give --checkpoint DIR (a run's checkpoint "
             "directory) or --import DIR", flag);
    return -1;
}

/* The input file of --predict, read by its extension as the training set's
 * features are (the same scale and shift). */
static int load_inputs(const ExaRun *r, const ExaDataInfo *set, ExaDataset *d, char *err, size_t errlen)
{
    const ExaFieldInfo *x = NULL;
    for (int i = 0; i < set->nfields && !x; i++)
        if (!set->fields[i].classes)
            x = &set->fields[i];
    if (!x) {
        snprintf(err, errlen, "exa: --predict: data '%s' has no real-valued input", set->name);
        return -1;
    }
    ExaLoadOptions opt = { .scale = exa_call_num(set->source, "scale", 1),
                           .shift = exa_call_num(set->source, "shift", 0),
                           .shape = &x->shape, .targets = EXA_CSV_NO_TARGETS };
    const char *path = r->opt.predict_path;
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    size_t len = strlen(base);
    if (len > 3 && strcmp(base + len - 3, ".gz") == 0)
        base[len -= 3] = '\0';
    int rc;
    if (len > 4 && strcmp(base + len - 4, ".npy") == 0)
        rc = exa_data_load_npy(d, path, NULL, &opt, err, errlen);
    else if (len > 4 && strcmp(base + len - 4, ".csv") == 0)
        rc = exa_data_load_csv(d, path, &opt, err, errlen);
    else
        rc = exa_data_load_idx(d, path, NULL, &opt, err, errlen);
    if (rc == 0)
        rc = exa_data_check_shape(d, &x->shape, path, err, errlen);
    return rc;
}

/* OUT.npy -> OUT.classes.npy */
static void classes_path(const char *out, char *buf, size_t len)
{
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".npy") == 0)
        n -= 4;
    snprintf(buf, len, "%.*s.classes.npy", (int)n, out);
}

int exa_use_predict(ExaRun *r, const char *ckpt_dir)
{
    char err[1024] = "";
    const ExaProgram *p = r->prog;
    if (r->world.rank != 0) /* one rank predicts; the others have nothing to do */
        return 0;
    r->elem = p->precision;
    r->n = p->nweights;
    r->theta = calloc((size_t)(r->n ? r->n : 1), (size_t)r->elem);
    const ExaFunction *fn = exa_run_function(r, EXA_FN_PREDICT);
    const ExaDataInfo *set = exa_program_data(p, EXA_ROLE_TRAIN);
    ExaDataset d = { 0 };
    int rc = -1;
    if (!fn || p->predict_shape.rank < 0)
        snprintf(err, sizeof err, "exa: --predict: the executable has no predict function: recompile it "
                 "with this exac");
    else if (!set)
        snprintf(err, sizeof err, "exa: --predict: the program declares no training data");
    else if (set->nfields + (p->dropout_size > 0) > EXA_MAX_INPUTS)
        snprintf(err, sizeof err, "exa: --predict: data '%s' has %d parts; at most %d are supported",
                 set->name, set->nfields, EXA_MAX_INPUTS);
    else if (r->theta && exa_use_trained_weights(r, "--predict", ckpt_dir, err, sizeof err) == 0
             && load_inputs(r, set, &d, err, sizeof err) == 0)
        rc = 0;
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        free(r->theta), r->theta = NULL;
        exa_data_free(&d);
        return 1;
    }
    enum { CHUNK = 1000 };
    int64_t out_size = 1, chunk = d.n < CHUNK ? d.n : CHUNK;
    for (int i = 0; i < p->predict_shape.rank; i++)
        out_size *= p->predict_shape.dim[i];
    char *out = calloc((size_t)(d.n * out_size), (size_t)r->elem);
    void *in[EXA_MAX_INPUTS] = { 0 }, *x = NULL;
    for (int i = 0; i < set->nfields; i++) {
        const ExaFieldInfo *f = &set->fields[i];
        int64_t per = f->classes ? (int64_t)sizeof(int32_t) : r->elem;
        for (int k = 0; !f->classes && k < f->shape.rank; k++)
            per *= f->shape.dim[k];
        in[i] = calloc((size_t)(chunk * per), 1); /* zeros: the targets are not read */
        if (!x && !f->classes)
            x = in[i];
    }
    if (p->dropout_size > 0) { /* the mask input, all ones: no dropout when predicting */
        in[set->nfields] = calloc((size_t)(chunk * p->dropout_size), (size_t)r->elem);
        exa_run_dropout_masks(r, NULL, chunk, 0, in[set->nfields]);
    }
    void *work = NULL;
    int64_t cap = 0;
    for (int64_t at = 0; at < d.n; at += chunk) {
        int64_t count = d.n - at < chunk ? d.n - at : chunk;
        if (r->elem == 4)
            exa_data_gather_f32(&d, NULL, at, count, x, NULL, NULL);
        else
            exa_data_gather_f64(&d, NULL, at, count, x, NULL, NULL);
        void *outputs[1] = { out + at * out_size * r->elem };
        ExaArgs args = { .batch = count, .theta = r->theta, .inputs = (const void *const *)in,
                         .outputs = outputs,
                         .workspace = exa_run_workspace(&work, &cap, fn->workspace(count)) };
        exa_run_call(r, fn, &args); /* --device gpu: on the device, through host copies */
    }
    ExaShape shape = { .rank = p->predict_shape.rank + 1, .dim = { d.n } };
    for (int i = 0; i < p->predict_shape.rank; i++)
        shape.dim[i + 1] = p->predict_shape.dim[i];
    rc = exa_npy_write(r->opt.out_path, out, 'f', r->elem, &shape, err, sizeof err);
    char cpath[4200] = "";
    if (!rc && p->accuracy_output >= 0) { /* a classifier: the class of the largest output */
        int32_t *cls = malloc((size_t)d.n * sizeof *cls);
        for (int64_t i = 0; i < d.n; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < out_size; k++)
                if (exa_get(r, out, i * out_size + k) > exa_get(r, out, i * out_size + best))
                    best = k;
            cls[i] = (int32_t)best;
        }
        classes_path(r->opt.out_path, cpath, sizeof cpath);
        ExaShape cs = { .rank = 1, .dim = { d.n } };
        rc = exa_npy_write(cpath, cls, 'i', 4, &cs, err, sizeof err);
        free(cls);
    }
    if (rc)
        fprintf(stderr, "%s\n", err);
    else if (!r->opt.quiet)
        printf("exa: predicted %lld samples of %s: outputs in %s%s%s\n", (long long)d.n, r->opt.predict_path,
               r->opt.out_path, *cpath ? ", classes in " : "", cpath);
    for (int i = 0; i < set->nfields + (p->dropout_size > 0); i++)
        free(in[i]);
    free(work);
    free(out);
    free(r->theta), r->theta = NULL;
    exa_data_free(&d);
    return rc ? 1 : 0;
}
