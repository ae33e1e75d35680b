/* checkpoint.h - training state on disk: written atomically, checked on load.
 *
 * File format, version 1, all integers little-endian:
 *
 *   offset  size  field
 *        0     8  magic "EXACKPT\0"
 *        8     4  format version (1)
 *       12     4  precision: bytes per parameter, 4 (f32) or 8 (f64)
 *       16     8  epoch
 *       24     8  step (optimiser steps taken in all)
 *       32    32  rng state, four 64-bit words (ExaRng.s)
 *       64     8  parameter count
 *       72     4  number of optimiser state arrays (0 .. EXA_CKPT_MAX_STATE)
 *       76     4  zero
 *       80    32  byte size of each state array (unused ones 0)
 *      112    16  zero (room for later fields)
 *      128        parameters (count x precision bytes, host = little-endian order)
 *                 then each state array's bytes in turn
 *      end-4   4  CRC-32 (zlib's crc32, the gzip/PNG polynomial) of every byte before it
 *
 * exa_checkpoint_write writes a temporary file in the same directory, fsyncs
 * it, renames it over the target and fsyncs the directory, so the target is
 * always either the old checkpoint or the new one, never a mixture.  Errors
 * are one line "exa: FILE: what is wrong" in err; nothing here exits. */
#ifndef EXA_CHECKPOINT_H
#define EXA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

enum { EXA_CKPT_VERSION = 1, EXA_CKPT_MAX_STATE = 4, EXA_CKPT_HEADER = 128 };

typedef struct ExaCheckpoint {
    int precision;       /* 4 or 8 */
    uint64_t epoch, step;
    uint64_t rng[4];
    int64_t nparams;
    void *params;        /* nparams * precision bytes */
    int nstate;
    int64_t state_bytes[EXA_CKPT_MAX_STATE];
    void *state[EXA_CKPT_MAX_STATE];
} ExaCheckpoint;

/* Writes c to path atomically. */
int exa_checkpoint_write(const char *path, const ExaCheckpoint *c, char *err, size_t errlen);

/* Reads path into c (params and state malloc'd; free with exa_checkpoint_free)
 * after checking magic, version, size, checksum, and, when not negative,
 * that it holds expect_nparams parameters of expect_precision bytes. */
int exa_checkpoint_read(const char *path, ExaCheckpoint *c, int64_t expect_nparams,
                        int expect_precision, char *err, size_t errlen);

void exa_checkpoint_free(ExaCheckpoint *c);

#endif
