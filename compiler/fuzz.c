/* fuzz.c - libFuzzer harness over parse + check.
 *
 * Any input must give diagnostics, never a crash, a hang or a leak.  Built
 * with -DEXA_FUZZ=ON under clang; tests/fuzz runs it for a fixed time in CI,
 * seeded with examples/ and the golden tests.  The stdlib comes from the
 * source tree so imports resolve as they do for users. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "loader.h"
#include "sema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Diagnostics are the output under test only in that they must not crash;
     * they go to /dev/null, opened once (libFuzzer calls this millions of times). */
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        abort();
    LoaderOptions opt = { .stdlib_dir = EXA_FUZZ_STDLIB };
    Diag d;
    diag_init(&d, sink);
    Program p = {0};
    loader_load_memory(&p, "fuzz.exa", (const char *)data, size, &opt, &d);
    if (d.errors == 0) {
        Sema *s = sema_check(&p, &d);
        sema_emit_shapes(sink, s);
        sema_free(s);
    }
    program_free(&p);
    return 0;
}
