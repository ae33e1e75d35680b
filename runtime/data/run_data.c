/* run_data.c - the data sets a program declares, loaded as its descriptor
 * says, with --data overrides and --limit.
 *
 * The declared per-sample parts (fields) map onto a dataset in order: the
 * first real field is the features, a class field the labels, a second real
 * field the real targets.  Every mismatch between a file and the declaration
 * is one line naming the file (the loaders' messages). */
#include <stdio.h>
#include <string.h>

#include "exa/run.h"

/* The path for argument `arg` of data set `set`: a --data override or the
 * program's string.  primary: the argument NAME=PATH replaces. */
static const char *path_of(const ExaRun *r, const ExaDataInfo *set, const char *arg, int primary)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", set->name, arg);
    /* the last flag wins, as for every other flag */
    for (int i = r->opt.nover - 1; i >= 0; i--) {
        if (strcmp(r->opt.over_key[i], key) == 0)
            return r->opt.over_path[i];
        if (primary && strcmp(r->opt.over_key[i], set->name) == 0)
            return r->opt.over_path[i];
    }
    return exa_call_ident(set->source, arg, NULL);
}

/* Checks that every --data flag names a data set of the program. */
static int check_overrides(const ExaRun *r, char *err, size_t errlen)
{
    for (int i = 0; i < r->opt.nover; i++) {
        const char *key = r->opt.over_key[i];
        size_t len = strcspn(key, ".");
        int found = 0;
        for (int k = 0; k < r->prog->ndata; k++) {
            const ExaDataInfo *d = &r->prog->data[k];
            if (strlen(d->name) == len && strncmp(d->name, key, len) == 0) {
                found = 1;
                if (!key[len] && strcmp(d->source->name, "idx") == 0) {
                    snprintf(err, errlen, "exa: --data %s: data set '%s' reads two files; use "
                             "--data %s.images=PATH and --data %s.labels=PATH", key, d->name,
                             d->name, d->name);
                    return -1;
                }
                const char *src = d->source->name, *arg = key[len] ? key + len + 1 : NULL;
                const char *files = strcmp(src, "idx") == 0   ? " images labels "
                                    : strcmp(src, "csv") == 0 ? " path "
                                    : strcmp(src, "npy") == 0 ? " x y " : NULL;
                char word[260];
                snprintf(word, sizeof word, " %s ", arg ? arg : "");
                if (!files) {
                    snprintf(err, errlen, "exa: --data %s: data set '%s' is generated (%s); it reads "
                             "no file", key, d->name, src);
                    return -1;
                }
                if (arg && !strstr(files, word)) {
                    snprintf(err, errlen, "exa: --data %s: a %s source reads no file '%s'; its files "
                             "are: %.*s", key, src, arg, (int)strlen(files) - 2, files + 1);
                    return -1;
                }
            }
        }
        if (!found) {
            snprintf(err, errlen, "exa: --data %s: the program has no data set '%.*s'", key,
                     (int)len, key);
            return -1;
        }
    }
    return 0;
}

static const ExaFieldInfo *nth_real(const ExaDataInfo *set, int n)
{
    for (int i = 0; i < set->nfields; i++)
        if (!set->fields[i].classes && n-- == 0)
            return &set->fields[i];
    return NULL;
}

static const ExaFieldInfo *class_field(const ExaDataInfo *set)
{
    for (int i = 0; i < set->nfields; i++)
        if (set->fields[i].classes)
            return &set->fields[i];
    return NULL;
}

/* The file a source reads its targets from, or NULL (generated data, or no
 * such file given). */
static const char *target_file(const ExaRun *r, const ExaDataInfo *set)
{
    const char *src = set->source->name;
    if (strcmp(src, "idx") == 0)
        return path_of(r, set, "labels", 0);
    if (strcmp(src, "csv") == 0)
        return path_of(r, set, "path", 1);
    if (strcmp(src, "npy") == 0)
        return path_of(r, set, "y", 0);
    return NULL;
}

/* The declared target field (class c or real y) against what the source
 * gave.  Nothing else checks this: the trainer reads labels or real
 * targets by the declaration, so a mismatch would read a NULL array or
 * uninitialised memory.  The message names the file holding the targets,
 * or the data set when there is none. */
static int check_targets(const ExaRun *r, const ExaDataInfo *set, ExaDataset *d,
                         const ExaFieldInfo *c, const ExaFieldInfo *y, char *err, size_t errlen)
{
    const char *src = set->source->name, *file = target_file(r, set);
    int generated = strcmp(src, "idx") && strcmp(src, "csv") && strcmp(src, "npy");
    const char *arg = strcmp(src, "idx") == 0 ? "labels" : "y";
    if (c && y) {
        snprintf(err, errlen, "exa: data '%s': declares both class labels '%s' and real targets "
                 "'%s'; a data set holds one kind of target", set->name, c->name, y->name);
        return -1;
    }
    const ExaFieldInfo *f = c ? c : y;
    if (!f)
        return 0;
    /* "field 'y' of data 'train' is class(3)"; kind: from "is" on */
    char kind[160], decl[512];
    if (c)
        snprintf(kind, sizeof kind, "is class(%d)", c->classes);
    else {
        char shape[128];
        exa_shape_format(&y->shape, shape, sizeof shape);
        snprintf(kind, sizeof kind, "is real-valued [%.128s]", shape);
    }
    snprintf(decl, sizeof decl, "field '%.100s' of data '%.100s' %s", f->name, set->name, kind);
    int64_t k = 1;
    for (int i = 0; y && i < y->shape.rank; i++)
        k *= y->shape.dim[i];
    if (d->target == EXA_TARGET_NONE) {
        if (generated)
            snprintf(err, errlen, "exa: data '%s': %s generates no targets, but field '%s' %s",
                     set->name, src, f->name, kind);
        else
            snprintf(err, errlen, "exa: data '%s': field '%s' %s, but the %s source reads no %s "
                     "file (give %s: PATH, or --data %s.%s=PATH)", set->name, f->name, kind, src,
                     arg, arg, set->name, arg);
        return -1;
    }
    char where[4200];
    if (file && !generated)
        snprintf(where, sizeof where, "%s", file);
    else
        snprintf(where, sizeof where, "data '%s'", set->name);
    if (c && d->target == EXA_TARGET_REAL) {
        snprintf(err, errlen, "exa: %s: holds real values (%lld per sample), but %s: class labels "
                 "are integers, an array of shape (N,)", where, (long long)d->targets, decl);
        return -1;
    }
    if (y && d->target == EXA_TARGET_CLASS) {
        snprintf(err, errlen, "exa: %s: holds class labels (%s), but %s; declare '%s: class(K)' "
                 "or give real targets of shape (N, %lld)", where,
                 generated ? "generated" : "integers of shape (N,)", decl, y->name, (long long)k);
        return -1;
    }
    if (y && d->targets != k) {
        snprintf(err, errlen, "exa: %s: holds %lld target values per sample, but %s (%lld)", where,
                 (long long)d->targets, decl, (long long)k);
        return -1;
    }
    if (c)
        return exa_data_set_classes(d, c->classes, where, err, errlen);
    return 0;
}

static int load_one(ExaRun *r, const ExaDataInfo *set, ExaDataset *d, int64_t limit, char *err,
                    size_t errlen)
{
    const ExaCall *src = set->source;
    const ExaFieldInfo *x = nth_real(set, 0), *y = nth_real(set, 1), *c = class_field(set);
    ExaLoadOptions opt = {
        .scale = exa_call_num(src, "scale", 1),
        .shift = exa_call_num(src, "shift", 0),
        .limit = (int64_t)exa_call_num(src, "limit", 0),
        .shape = x ? &x->shape : NULL,
        .classes = c ? c->classes : 0,
        .targets = c ? 0 : y ? 1 : EXA_CSV_NO_TARGETS,
    };
    if (y) {
        int64_t k = 1;
        for (int i = 0; i < y->shape.rank; i++)
            k *= y->shape.dim[i];
        opt.targets = (int)k;
    }
    if (limit > 0 && (opt.limit == 0 || limit < opt.limit))
        opt.limit = limit;
    const char *name = src->name;
    int rc;
    if (strcmp(name, "peaks") == 0) {
        rc = exa_data_peaks(d, (int64_t)exa_call_num(src, "samples", 5000), 0,
                            (uint64_t)exa_call_num(src, "seed", 0), err, errlen);
    } else if (strcmp(name, "allen_cahn") == 0) {
        rc = exa_data_allen_cahn(d, (int64_t)exa_call_num(src, "points", 2000),
                                 (uint64_t)exa_call_num(src, "seed", 0), err, errlen);
    } else if (strcmp(name, "idx") == 0) {
        rc = exa_data_load_idx(d, path_of(r, set, "images", 0), path_of(r, set, "labels", 0), &opt,
                               err, errlen);
    } else if (strcmp(name, "csv") == 0) {
        rc = exa_data_load_csv(d, path_of(r, set, "path", 1), &opt, err, errlen);
    } else if (strcmp(name, "npy") == 0) {
        rc = exa_data_load_npy(d, path_of(r, set, "x", 1), path_of(r, set, "y", 0), &opt, err,
                               errlen);
    } else {
        snprintf(err, errlen, "exa: data '%s': unknown source '%s'", set->name, name);
        return -1;
    }
    if (rc != 0)
        return -1;
    if (limit > 0 && d->n > limit)
        d->n = limit; /* generated sets: keep the first samples */
    char what[256];
    snprintf(what, sizeof what, "data '%s'", set->name);
    if (d->n == 0) {
        snprintf(err, errlen, "exa: %s: no samples", what);
        return -1;
    }
    if (x && exa_data_check_shape(d, &x->shape, what, err, errlen) != 0)
        return -1;
    return check_targets(r, set, d, c, y, err, errlen);
}

int exa_run_load_data(ExaRun *r, char *err, size_t errlen)
{
    if (check_overrides(r, err, errlen) != 0)
        return -1;
    r->train_info = exa_program_data(r->prog, EXA_ROLE_TRAIN);
    if (!r->train_info) {
        snprintf(err, errlen, "exa: the program declares no training data");
        return -1;
    }
    if (load_one(r, r->train_info, &r->train, r->opt.limit, err, errlen) != 0)
        return -1;
    r->valid_info = exa_program_data(r->prog, EXA_ROLE_VALIDATE);
    if (r->valid_info) {
        if (load_one(r, r->valid_info, &r->valid, r->opt.eval_limit, err, errlen) != 0)
            return -1;
        r->have_valid = 1;
    }
    return 0;
}
