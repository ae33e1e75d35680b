/* sema.c - placeholder until semantic analysis lands: accepts every parsed program. */
#include "sema.h"

#include <stdlib.h>

struct Sema {
    Program *program;
};

Sema *sema_check(Program *p, Diag *d)
{
    (void)d;
    Sema *s = calloc(1, sizeof *s);
    s->program = p;
    return s;
}

void sema_emit_shapes(FILE *out, const Sema *s)
{
    (void)out;
    (void)s;
}

void sema_free(Sema *s)
{
    free(s);
}
