/* error.c - exa_fail (exa/error.h), shared by the loaders, checkpoints and
 * metrics, which each had a copy. */
#include <stdarg.h>
#include <stdio.h>

#include "exa/error.h"

int exa_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
