/* checkpoint.h - training state on disk: written atomically, checked on load.
 *
 * File format, version 2, all integers little-endian:
 *
 *   offset  size  field
 *        0     8  magic "EXACKPT\0"
 *        8     4  format version (2)
 *       12     4  precision: bytes per parameter, 4 (f32) or 8 (f64)
 *       16     8  epoch
 *       24     8  step (optimiser steps taken in all)
 *       32    32  rng state, four 64-bit words (ExaRng.s)
 *       64     8  weight count (length of the flat parameter vector)
 *       72     4  number of parameter records
 *       76     4  number of named state arrays (0 .. EXA_CKPT_MAX_ARRAYS)
 *       80    48  zero (room for later fields)
 *      128        the parameter records, each: 4 name length, the name (no
 *                 NUL), 4 rank, rank x 8 dimensions - the model's parameter
 *                 table, so that a resume refuses another model's weights
 *                 then the weights (count x precision bytes, little-endian)
 *                 then each state array: 4 name length, the name, 8 byte
 *                 count, the bytes ("global.adam.m", "global.adam.t", ...)
 *      end-4   4  CRC-32 (zlib's crc32, the gzip/PNG polynomial) of every byte before it
 *
 * Version 1 files (unnamed state arrays at fixed places) are refused with
 * one line: their state cannot be matched to a method's named arrays.
 *
 * exa_checkpoint_write writes a temporary file ".NAME.tmp.XXXXXX" in the same
 * directory, fsyncs it, renames it over the target and fsyncs the directory,
 * so the target is always either the old checkpoint or the new one, never a
 * mixture.  Errors are one line "exa: FILE: what is wrong" in err; nothing
 * here exits. */
#ifndef EXA_CHECKPOINT_H
#define EXA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "exa/program.h"

enum { EXA_CKPT_VERSION = 2, EXA_CKPT_MAX_ARRAYS = 32, EXA_CKPT_NAME = 48, EXA_CKPT_HEADER = 128 };

typedef struct ExaCkptParam {
    char *name;
    ExaShape shape;
} ExaCkptParam;

typedef struct ExaCkptArray {
    char name[EXA_CKPT_NAME];
    void *data;
    int64_t bytes;
} ExaCkptArray;

typedef struct ExaCheckpoint {
    int precision;       /* 4 or 8 */
    uint64_t epoch, step;
    uint64_t rng[4];
    int64_t nparams;     /* weights */
    void *params;        /* nparams * precision bytes */
    int ninfo;           /* parameter records */
    ExaCkptParam *info;
    int narrays;
    ExaCkptArray arrays[EXA_CKPT_MAX_ARRAYS];
} ExaCheckpoint;

/* Writes c to path atomically. */
int exa_checkpoint_write(const char *path, const ExaCheckpoint *c, char *err, size_t errlen);

/* Reads path into c (everything malloc'd; free with exa_checkpoint_free)
 * after checking magic, version, size, checksum, and, when not negative,
 * that it holds expect_nparams parameters of expect_precision bytes. */
int exa_checkpoint_read(const char *path, ExaCheckpoint *c, int64_t expect_nparams,
                        int expect_precision, char *err, size_t errlen);

/* Whether c's parameter records are model p's (names and shapes, in order);
 * -1 with the first difference in err when not. */
int exa_checkpoint_check_model(const ExaCheckpoint *c, const ExaProgram *p, const char *path,
                               char *err, size_t errlen);

/* The named array of c, or NULL. */
const ExaCkptArray *exa_checkpoint_array(const ExaCheckpoint *c, const char *name);

/* Removes stray temporary files (".NAME.tmp.*") a killed writer left in dir;
 * returns how many. */
int exa_checkpoint_clean(const char *dir, const char *name);

void exa_checkpoint_free(ExaCheckpoint *c);

#endif
