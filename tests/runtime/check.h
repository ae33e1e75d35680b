/* check.h - the assertion macros of the runtime unit tests: a failed check
 * prints its line and what failed and the test keeps going; main returns
 * the failure count's verdict through CHECK_DONE. */
#ifndef EXA_TEST_CHECK_H
#define EXA_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                  \
    do {                                                             \
        if (!(cond)) {                                               \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            failures++;                                              \
        }                                                            \
    } while (0)

/* |a - b| <= tol, printing both values on failure */
#define CHECK_NEAR(a, b, tol)                                                         \
    do {                                                                              \
        double a_ = (a), b_ = (b);                                                    \
        if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol))) {                                \
            printf("FAIL %s:%d: %s = %.17g, expected %.17g (tol %g)\n", __FILE__,       \
                   __LINE__, #a, a_, b_, (double)(tol));                              \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* rc != 0 and err contains want */
#define CHECK_ERROR(rc, err, want)                                                     \
    do {                                                                               \
        if ((rc) == 0 || !strstr((err), (want))) {                                     \
            printf("FAIL %s:%d: expected an error containing '%s', got rc %d: %s\n",   \
                   __FILE__, __LINE__, (want), (rc), (err));                           \
            failures++;                                                                \
        }                                                                              \
    } while (0)

#define CHECK_DONE()                                           \
    do {                                                       \
        if (failures)                                          \
            printf("%d check(s) failed\n", failures);          \
        else                                                   \
            printf("all checks passed\n");                     \
        return failures != 0;                                  \
    } while (0)

#endif
