/* data.h - data sets in memory: loaders, generators, shuffling, mini-batches.
 *
 * An ExaDataset holds N samples.  Each sample has `features` float32 values
 * with a per-sample shape (product = features) and optionally a target: an
 * int32 class label in 0 .. classes-1, or `targets` float32 values.  Samples
 * are stored row-major (sample i's features at x + i * features), or, for
 * an IDX file of bytes, as those bytes (`bytes`, x NULL): feature k is then
 * (float)bytes[k] * byte_scale + byte_shift, rounded as the loader always
 * did.  A quarter of the memory, and of what each mini-batch's gather reads
 * (Fashion-MNIST: 47 MB instead of 188; model (a)'s step at one thread
 * spent a tenth of its time gathering 100 random rows of floats).
 *
 * Loaders (data_load.c) read IDX (MNIST, Fashion-MNIST), CSV and NumPy .npy;
 * every file may be gzip-compressed or raw (zlib's gzread reads both).  They
 * never exit: on a bad file they return -1 and write one line
 * "exa: FILE: what is wrong" into err.  Every loaded value is finite in
 * float32 and every data set has at least one sample: NaN, infinities and
 * empty files are refused naming the file and the line or sample.  Generators (data.c) make the peaks
 * classification problem and Allen-Cahn collocation points from a seed.
 *
 * Mini-batches: exa_data_epoch_order gives the shuffled order of epoch e as
 * a pure function of (seed, e); batch b of that order is positions
 * [b*batch, min(n, (b+1)*batch)) (the last batch may be short);
 * exa_data_gather_* copies it into contiguous buffers in f32 or f64;
 * exa_data_shard gives the part of a batch that rank r of P owns. */
#ifndef EXA_DATA_H
#define EXA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "exa/program.h" /* ExaShape */

typedef enum ExaTargetKind {
    EXA_TARGET_NONE,  /* inputs only (collocation points) */
    EXA_TARGET_CLASS, /* label[i] in 0 .. classes-1 */
    EXA_TARGET_REAL   /* y[i * targets .. (i+1) * targets) */
} ExaTargetKind;

typedef struct ExaDataset {
    int64_t n;         /* samples */
    int64_t features;  /* floats per sample = product of shape */
    ExaShape shape;    /* per-sample shape of the features */
    float *x;          /* n * features, or NULL where bytes holds them */
    uint8_t *bytes;    /* n * features: an IDX file's values, or NULL */
    float byte_scale, byte_shift; /* feature = (float)byte * byte_scale + byte_shift */
    ExaTargetKind target;
    int classes;       /* EXA_TARGET_CLASS */
    int32_t *label;    /* n, EXA_TARGET_CLASS */
    int64_t targets;   /* EXA_TARGET_REAL: floats per sample */
    float *y;          /* n * targets, EXA_TARGET_REAL */
} ExaDataset;

/* CSV: value of ExaLoadOptions.targets meaning "every column is a feature". */
enum { EXA_CSV_NO_TARGETS = -1 };

/* Options shared by the loaders; zero-initialised means all defaults. */
typedef struct ExaLoadOptions {
    double scale;          /* features are multiplied by this; 0 means 1 */
    double shift;          /* then this is added (standardising: -mean/std) */
    int64_t limit;         /* keep at most this many samples; 0 means all */
    const ExaShape *shape; /* declared per-sample shape, checked; NULL: the file's */
    int classes;           /* class count; 0: max label + 1 */
    int targets;           /* CSV only: 0 = last column is a class label,
                            * k > 0 = last k columns are real targets,
                            * EXA_CSV_NO_TARGETS = no targets */
} ExaLoadOptions;

void exa_data_free(ExaDataset *d);

/* IDX (http://yann.lecun.com/exdb/mnist/): images is an unsigned-byte IDX
 * file of rank >= 1 (idx3 for images, dims N x H x W), labels an unsigned-byte
 * idx1 file with N entries, or NULL for no targets. */
int exa_data_load_idx(ExaDataset *d, const char *images, const char *labels,
                      const ExaLoadOptions *opt, char *err, size_t errlen);

/* CSV of numbers separated by commas, one sample per line.  The first line is
 * a header if any of its fields is not a number.  Blank lines are skipped;
 * every other line must have the same number of fields.  Targets by
 * opt->targets, as described there. */
int exa_data_load_csv(ExaDataset *d, const char *path, const ExaLoadOptions *opt,
                      char *err, size_t errlen);

/* NumPy .npy, format 1.0, 2.0 or 3.0, C order, little-endian; dtypes f4, f8,
 * i4, i8, u1.  The features file has shape (N, ...), the per-sample shape being
 * the rest.  The labels file (or NULL) has N rows: an integer dtype with shape
 * (N,) gives class labels, a float dtype with shape (N, ...) real targets. */
int exa_data_load_npy(ExaDataset *d, const char *features, const char *labels,
                      const ExaLoadOptions *opt, char *err, size_t errlen);

/* The peaks problem (METHODS.md): MATLAB's peaks function on a uniform
 * 256 x 256 grid over [-3,3]^2, label = min(4, floor(5 (f - fmin)/(fmax - fmin))).
 * Samples are grid points drawn without replacement, balanced: class c gets
 * samples/5 points, plus one for c < samples % 5.  Features (x, y), shape [2].
 * The same seed always gives the same set, in a shuffled order.  `skip` grid
 * points of each class are passed over first, so that a validation set made
 * with the same seed and skip = the training set's per-class count is
 * disjoint from it. */
int exa_data_peaks(ExaDataset *d, int64_t samples, int64_t skip, uint64_t seed,
                   char *err, size_t errlen);

/* The value of the peaks function at (x, y). */
double exa_peaks(double x, double y);

/* Allen-Cahn collocation points: (t, x) uniform in [0,1] x [-1,1], shape [2],
 * no targets. */
int exa_data_allen_cahn(ExaDataset *d, int64_t samples, uint64_t seed, char *err, size_t errlen);

/* Checks d's per-sample shape against a declared one; equal products with a
 * different rank are accepted (784 vs 28x28).  On a mismatch writes
 * "exa: WHAT: declared [..] but the data holds [..]". */
int exa_data_check_shape(const ExaDataset *d, const ExaShape *declared, const char *what,
                         char *err, size_t errlen);

/* Checks d->label against `classes` (0: none given) and sets d->classes to it,
 * or to the largest label + 1; a label outside 0..classes-1 is an error. */
int exa_data_set_classes(ExaDataset *d, int classes, const char *what, char *err, size_t errlen);

/* Reads a whole file into a malloc'd buffer, decompressing it if it is gzip.
 * A gzip stream cut short (no end marker or trailer) is an error: what it
 * holds may end on a line boundary and look like a complete shorter file. */
int exa_data_read_file(const char *path, unsigned char **data, size_t *len, char *err,
                       size_t errlen);

/* Formats a shape as "28x28" into buf. */
void exa_shape_format(const ExaShape *s, char *buf, size_t size);

/* Epoch order: order[0..n) is a permutation of 0..n-1, a function of
 * (seed, epoch) only. */
void exa_data_epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch);

/* Number of batches of `batch` samples in n (the last may be short). */
int64_t exa_data_batches(int64_t n, int64_t batch);

/* First position and length of batch b. */
void exa_data_batch_range(int64_t n, int64_t batch, int64_t b, int64_t *begin, int64_t *count);

/* The micro-batch of rank r of P within a batch of `count` samples: lengths
 * differ by at most one, the first count % P ranks holding one more. */
void exa_data_shard(int64_t count, int rank, int nranks, int64_t *begin, int64_t *len);

/* Feature i of the data set (sample i / features), from x or bytes. */
float exa_data_feature(const ExaDataset *d, int64_t i);

/* Copies samples order[begin .. begin+count) into contiguous buffers:
 * x is (count, features), label (count) for class targets, y (count, targets)
 * for real targets; any output may be NULL when not wanted.  order NULL
 * means the stored order. */
void exa_data_gather_f32(const ExaDataset *d, const int64_t *order, int64_t begin, int64_t count,
                         float *x, int32_t *label, float *y);
void exa_data_gather_f64(const ExaDataset *d, const int64_t *order, int64_t begin, int64_t count,
                         double *x, int32_t *label, double *y);

#endif
