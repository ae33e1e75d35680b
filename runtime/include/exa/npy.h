/* npy.h - single arrays in NumPy's .npy format, for --export, --import and
 * --predict's outputs (data sets are read by exa/data.h's loaders).
 *
 * Written: format 1.0, C order, little-endian '<f4', '<f8' or '<i4', the
 * header padded so the data starts at a multiple of 64 bytes, as NumPy
 * writes it.  Read: what exa_data_load_npy reads (f4, f8, i4, i8, u1; C
 * order; version 1.0 to 3.0), scalars (shape ()) included.  Errors are one
 * line "exa: FILE: what is wrong" in err. */
#ifndef EXA_NPY_H
#define EXA_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "exa/program.h" /* ExaShape */

/* kind 'f' with size 4 or 8, or 'i' with size 4; data holds the product of
 * shape's dims elements (one for rank 0). */
int exa_npy_write(const char *path, const void *data, char kind, int size, const ExaShape *shape,
                  char *err, size_t errlen);

/* The whole array as doubles (malloc'd into *values) and its shape. */
int exa_npy_read_reals(const char *path, double **values, ExaShape *shape, char *err, size_t errlen);

#endif
