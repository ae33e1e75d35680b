/* error.h - how libexa's modules report a failure: the message goes into
 * the caller's buffer (err, errlen bytes; NULL or 0: dropped) and the
 * function returns -1, so a check reads `return exa_fail(err, errlen, ...)`. */
#ifndef EXA_ERROR_H
#define EXA_ERROR_H

#include <stddef.h>

int exa_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
