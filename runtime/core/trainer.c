/* trainer.c - the epoch loop: shuffle, one strategy step per mini-batch,
 * evaluate, log, checkpoint.
 *
 * Every rank runs this loop in step; rank 0 alone prints, logs and writes
 * checkpoints.  The order of the samples in an epoch depends only on (seed,
 * epoch), so a run resumed from the checkpoint of epoch k continues exactly
 * as the uninterrupted run did. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exa/checkpoint.h"
#include "exa/gpu_train.h"
#include "exa/run.h"
#include "exa/schedule.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A message from rank 0, then every rank stops with status rc. */
static int stop(ExaRun *r, int rc, const char *msg)
{
    if (r->world.rank == 0 && msg && *msg)
        fprintf(stderr, "%s\n", msg);
    return rc;
}

static const char *setting_string(const ExaRun *r, const char *key)
{
    const ExaSetting *s = exa_program_setting(r->prog, key);
    return s && s->value.kind == EXA_STR ? s->value.str : NULL;
}

static void checkpoint_path(const char *dir, char *path, size_t len)
{
    snprintf(path, len, "%s/checkpoint.exa", dir);
}

static int write_checkpoint(ExaRun *r, ExaStrategy *s, const char *dir, char *err, size_t errlen)
{
    if (r->world.rank != 0)
        return 0;
    exa_gpu_run_to_host(r->gpu); /* the parameters and optimiser state, from the device */
    ExaCkptParam *info = calloc((size_t)(r->prog->nparams > 0 ? r->prog->nparams : 1), sizeof *info);
    if (!info) {
        snprintf(err, errlen, "exa: %s: out of memory for the checkpoint", dir);
        return -1;
    }
    for (int i = 0; i < r->prog->nparams; i++)
        info[i] = (ExaCkptParam){ .name = r->prog->params[i].path, .shape = r->prog->params[i].shape };
    ExaCheckpoint c = { .precision = r->elem, .epoch = (uint64_t)r->epoch, .step = (uint64_t)r->step,
                        .nparams = r->n, .params = r->theta, .ninfo = r->prog->nparams, .info = info };
    exa_strategy_save(s, &c);
    char path[4096];
    checkpoint_path(dir, path, sizeof path);
    int rc = exa_checkpoint_write(path, &c, err, errlen);
    free(info);
    return rc;
}

static int resume(ExaRun *r, ExaStrategy *s, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    checkpoint_path(dir, path, sizeof path);
    ExaCheckpoint c;
    if (exa_load_checkpoint(r, path, &c, err, errlen) != 0)
        return -1;
    r->epoch = (int64_t)c.epoch;
    r->step = (int64_t)c.step;
    int rc = exa_strategy_restore(s, &c, path, err, errlen);
    exa_checkpoint_free(&c);
    exa_gpu_run_invalidate(r->gpu); /* the device takes the restored state */
    return rc;
}

/* Start-up checks of the checkpoint directory (rank 0): a name, a
 * directory it can create files in - found now, not after the first epoch -
 * and no temporary file a killed writer left behind. */
static int prepare_checkpoint_dir(ExaRun *r, const char *dir, char *err, size_t errlen)
{
    if (r->world.rank != 0)
        return 0;
    if (!*dir) {
        snprintf(err, errlen, "exa: rank 0: --checkpoint: the directory name is empty");
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "exa: rank 0: %.512s: cannot create the checkpoint directory: %s", dir,
                 strerror(errno));
        return -1;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.checkpoint.exa.tmp.XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        snprintf(err, errlen, "exa: rank 0: %.512s: cannot write checkpoints there: %s", dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    int stale = exa_checkpoint_clean(dir, "checkpoint.exa");
    if (stale > 0 && !r->opt.quiet)
        fprintf(stderr, "exa: %s: removed %d temporary checkpoint file%s a killed run left\n", dir, stale,
                stale == 1 ? "" : "s");
    return 0;
}

/* EXA_TEST_KILL=RANK:STEP makes that rank die (SIGKILL, no clean-up) after
 * that optimiser step: how tests check that a rank dying mid-run ends the job
 * with a message instead of a hang, and leaves the last checkpoint intact. */
static void maybe_die(const ExaRun *r)
{
    const char *spec = getenv("EXA_TEST_KILL");
    int rank;
    long long step;
    if (spec && sscanf(spec, "%d:%lld", &rank, &step) == 2 && rank == r->world.rank && step == r->step)
        raise(SIGKILL);
}

/* EXA_TEST_KILL=RANK:checkpoint:E: that rank dies just before the
 * checkpoint of epoch E is written - where a log line written before its
 * checkpoint would be duplicated by the resumed run. */
static void maybe_die_before_checkpoint(const ExaRun *r)
{
    const char *spec = getenv("EXA_TEST_KILL");
    int rank;
    long long epoch;
    if (spec && sscanf(spec, "%d:checkpoint:%lld", &rank, &epoch) == 2 && rank == r->world.rank
        && epoch == r->epoch)
        raise(SIGKILL);
}

/* --check-numerics: the parameters each step starts from (the step itself
 * may have spoilt r->theta by the time its loss is seen), and what
 * exa_check_numerics said about the step whose loss was not finite. */
typedef struct Numerics {
    void *theta;
    char why[1024];
} Numerics;

enum { EXA_REPORT_MAX = 16 };

/* One epoch; returns its mean training loss (NaN stops the run). */
static double epoch(ExaRun *r, ExaStrategy *s, const ExaSchedule *sched, ExaProgress *progress, double start,
                    int64_t *samples, Numerics *nc)
{
    exa_data_epoch_order(r->order, r->train.n, (uint64_t)r->seed, r->epoch);
    int64_t nb = exa_data_batches(r->train.n, r->batch);
    double sum = 0, t0 = now();
    int64_t seen = 0;
    /* the run's steps, for the schedule; --epochs may be up to INT64_MAX */
    int64_t total = nb > 0 && r->epochs > INT64_MAX / nb ? INT64_MAX : r->epochs * nb;
    for (int64_t b = 0; b < nb; b++) {
        int64_t begin, count;
        exa_data_batch_range(r->train.n, r->batch, b, &begin, &count);
        if (nc) {
            exa_strategy_gather(s); /* owned rows: the whole parameters, for the diagnosis */
            exa_gpu_run_to_host(r->gpu); /* --device gpu: theta may live on the device */
            memcpy(nc->theta, r->theta, (size_t)r->n * (size_t)r->elem);
        }
        /* a function of the step alone: a resumed run is on the same curve */
        r->lr_scale = exa_schedule_factor(sched, r->step, total, nb);
        exa_run_stats_begin(r);
        double loss = exa_strategy_step(s, begin, count);
        exa_run_stats_end(r);
        if (!isfinite(loss) && nc) /* before r->step moves: dropout's masks depend on it */
            exa_check_numerics(r, nc->theta, begin, count, nc->why, sizeof nc->why);
        r->step++;
        maybe_die(r);
        seen += count;
        sum += loss * (double)count;
        if (!isfinite(loss))
            return loss;
        if (r->world.rank == 0 && !r->opt.quiet)
            exa_progress_step(progress, r->epoch + 1, b + 1, loss, (double)seen / (now() - t0),
                              now() - start);
    }
    *samples = seen;
    return sum / (double)seen;
}

/* --eval: the trained weights' loss and accuracy on the validation set (the
 * training set when there is none), on every rank, then --export. */
static int evaluate_only(ExaRun *r, const char *dir)
{
    char err[1024] = "";
    exa_run_init_params(r);
    if (exa_comm_max_int(&r->world, exa_use_trained_weights(r, "--eval", dir, err, sizeof err) != 0))
        return stop(r, 1, err);
    const ExaDataset *d = r->have_valid ? &r->valid : &r->train;
    const char *name = r->have_valid ? r->valid_info->name : r->train_info->name;
    double loss, acc;
    exa_run_evaluate(r, (ExaDataset *)d, &loss, &acc);
    if (r->world.rank == 0) {
        printf("exa: evaluated %s on data '%s' (%lld samples): loss %.6g", r->opt.import_dir ? r->opt.import_dir : dir,
               name, (long long)d->n, loss);
        if (!isnan(acc))
            printf("  accuracy %.2f%%", 100 * acc);
        printf("\n");
        fflush(stdout);
    }
    if (r->opt.export_dir && exa_use_export(r, r->opt.export_dir, err, sizeof err) != 0)
        return stop(r, 1, err);
    return 0;
}

int exa_train(ExaRun *r)
{
    char err[1024] = "";
    const ExaProgram *p = r->prog;
    r->epochs = r->opt.epochs > 0 ? r->opt.epochs : p->epochs;
    r->batch = r->opt.batch > 0 ? r->opt.batch : p->batch;
    r->seed = r->opt.seed >= 0 ? r->opt.seed : p->seed;
    const char *dir = r->opt.checkpoint_dir ? r->opt.checkpoint_dir : setting_string(r, "checkpoint");
    const char *log_path = r->opt.log_path ? r->opt.log_path : setting_string(r, "log");
    if (r->opt.predict_path) /* no data set is loaded: the model alone (use.c) */
        return exa_use_predict(r, dir);
    if (exa_run_load_data(r, err, sizeof err) != 0 || exa_run_init(r, err, sizeof err) != 0)
        return stop(r, 1, err);
    if (r->batch > r->train.n)
        r->batch = r->train.n;
    r->order = malloc((size_t)r->train.n * sizeof *r->order);
    if (!r->order)
        return stop(r, 1, "exa: out of memory");
    ExaSchedule sched;
    const ExaSetting *sset = exa_program_setting(p, "schedule"), *clip = exa_program_setting(p, "clip");
    if (exa_schedule_parse(sset && sset->value.kind == EXA_CALL ? sset->value.call : NULL, &sched, err,
                           sizeof err) != 0)
        return stop(r, 1, err);
    r->clip = clip && clip->value.kind == EXA_NUM ? clip->value.num : 0;
    if (r->opt.eval)
        return evaluate_only(r, dir);
    ExaStrategy *s = exa_strategy_create(r, err, sizeof err);
    if (!s)
        return stop(r, 1, err);
    exa_run_init_params(r);
    if (r->opt.import_dir && exa_comm_max_int(&r->world, exa_use_import(r, r->opt.import_dir, err, sizeof err) != 0)) {
        exa_strategy_free(s);
        return stop(r, 1, err);
    }
    exa_gpu_run_invalidate(r->gpu);
    if (r->opt.gradcompare || r->opt.bench_step > 0) {
        int rc = exa_strategy_gradcompare(s);
        exa_strategy_free(s);
        return rc;
    }
    if (r->opt.gradcheck) {
        exa_strategy_free(s);
        return exa_gradcheck(r);
    }
    if (dir && exa_comm_max_int(&r->world, prepare_checkpoint_dir(r, dir, err, sizeof err) != 0)) {
        exa_strategy_free(s);
        return stop(r, 1, err);
    }
    if (r->opt.resume) {
        if (!dir) {
            exa_strategy_free(s);
            return stop(r, 2, "exa: --resume: no checkpoint directory (give --checkpoint DIR)");
        }
        if (resume(r, s, dir, err, sizeof err) != 0) {
            exa_strategy_free(s);
            return stop(r, 1, err);
        }
    }
    if (r->opt.admm_check || r->opt.multilevel_check) { /* after a --resume: the check starts from the checkpoint */
        int rc = exa_strategy_check(s);
        exa_strategy_free(s);
        return rc;
    }
    ExaMetricsLog log = { 0 };
    int logging = r->world.rank == 0 && log_path;
    if (logging && exa_metrics_open(&log, log_path, r->opt.resume, err, sizeof err) != 0) {
        exa_strategy_free(s);
        return stop(r, 1, err);
    }
    ExaProgress progress;
    /* in place on a terminal, also under mpirun when mpirun's output is one
     * (see exa_progress_is_terminal); plain lines otherwise */
    exa_progress_init(&progress, stdout, -1, r->epochs, exa_data_batches(r->train.n, r->batch));
    if (r->world.rank == 0 && !r->opt.quiet) {
        /* on GPUs with more than one rank: how the method's sums go */
        int sums = r->gpu && r->world.size > 1;
        printf("exa: training %s: %lld parameters, %lld samples, batch %lld, %s, %d rank%s%s%s%s%s\n",
               p->source, (long long)r->n, (long long)r->train.n, (long long)r->batch,
               p->decompose || r->world.size == 1 ? exa_strategy_name(s) : "data parallel (no decompose line)",
               r->world.size, r->world.size == 1 ? "" : "s", r->gpu ? ", on " : "",
               r->gpu ? exa_gpu_run_describe(r->gpu) : "", sums ? ", sums by " : "",
               sums ? exa_strategy_sums(s) : "");
        fflush(stdout); /* to a file or a pipe, stdout is block-buffered */
    }
    Numerics numerics = { 0 }, *nc = NULL;
    if (r->opt.check_numerics) {
        numerics.theta = malloc((size_t)(r->n ? r->n : 1) * (size_t)r->elem);
        if (!numerics.theta) {
            exa_strategy_free(s);
            return stop(r, 1, "exa: --check-numerics: out of memory");
        }
        nc = &numerics;
    }
    double start = now();
    int rc = 0, done_here = 0;
    while (r->epoch < r->epochs) {
        double t0 = now();
        int64_t samples = 0;
        double loss = epoch(r, s, &sched, &progress, start, &samples, nc);
        if (!isfinite(loss)) {
            char msg[2600];
            snprintf(msg, sizeof msg, "exa: epoch %lld: the loss is %s; stopping%s%s%s; %s",
                     (long long)r->epoch + 1, isnan(loss) ? "NaN" : "infinite",
                     dir ? " (the last checkpoint is kept in " : "", dir ? dir : "", dir ? ")" : "",
                     nc ? numerics.why : "--check-numerics names the operation that made it");
            rc = stop(r, 3, msg);
            break;
        }
        r->epoch++;
        double seconds = now() - t0;
        double vloss = NAN, vacc = NAN;
        if (r->have_valid || dir) /* owned rows (neurons()): every rank's rows, once an epoch */
            exa_strategy_gather(s);
        if (r->have_valid)
            exa_run_evaluate(r, &r->valid, &vloss, &vacc);
        /* the checkpoint first, then the epoch's lines: a run killed
         * between them resumes after this epoch and logs it at most once.
         * Collective: a rank that failed to write stops every rank. */
        maybe_die_before_checkpoint(r);
        int failed = dir && write_checkpoint(r, s, dir, err, sizeof err) != 0;
        if (exa_comm_max_int(&r->world, failed)) {
            rc = stop(r, 1, err);
            break;
        }
        const char *rep_names[EXA_REPORT_MAX];
        double rep_values[EXA_REPORT_MAX];
        int nrep = exa_strategy_report(s, rep_names, rep_values, EXA_REPORT_MAX);
        if (r->world.rank == 0) {
            if (!r->opt.quiet) {
                exa_progress_epoch(&progress, r->epoch, loss, (double)samples / seconds, now() - start);
                if (r->have_valid)
                    printf("    %s: loss %.6g%s", r->valid_info->name, vloss, isnan(vacc) ? "\n" : "");
                if (r->have_valid && !isnan(vacc))
                    printf("  accuracy %.2f%%\n", 100 * vacc);
                if (nrep > 0) { /* the method's own numbers (layers(admm): Lagrangian, residuals) */
                    printf("   ");
                    for (int i = 0; i < nrep; i++)
                        printf(" %s %.6g", rep_names[i], rep_values[i]);
                    printf("\n");
                }
                fflush(stdout);
            }
            if (logging) {
                const char *names[4 + EXA_REPORT_MAX] = { "validation_loss", "comm_seconds", "grad_evals",
                                                           "loss_evals" };
                double per_batch = (double)(r->batch < r->train.n ? r->batch : r->train.n);
                double values[4 + EXA_REPORT_MAX] = { vloss, exa_comm_seconds(&r->world),
                                                      (double)r->grad_rows / per_batch,
                                                      (double)r->loss_only_rows / per_batch };
                for (int i = 0; i < nrep; i++)
                    names[4 + i] = rep_names[i], values[4 + i] = rep_values[i];
                ExaEpochRecord rec = { .epoch = r->epoch, .loss = loss, .accuracy = vacc,
                                       .seconds = seconds, .samples_per_s = (double)samples / seconds,
                                       .nextra = 4 + nrep, .names = names, .values = values };
                if (exa_metrics_write(&log, &rec, err, sizeof err) != 0)
                    fprintf(stderr, "%s\n", err);
            }
        }
        if (r->opt.stop_after > 0 && ++done_here >= r->opt.stop_after)
            break;
    }
    if (logging)
        exa_metrics_close(&log);
    exa_strategy_gather(s); /* the trained parameters whole on every rank */
    exa_gpu_run_to_host(r->gpu); /* the trained parameters, for --export and the caller */
    free(numerics.theta);
    exa_strategy_free(s);
    if (rc == 0 && r->opt.export_dir && exa_use_export(r, r->opt.export_dir, err, sizeof err) != 0)
        rc = stop(r, 1, err);
    return rc;
}
