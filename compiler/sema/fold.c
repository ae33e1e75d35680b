/* fold.c - the one constant folder (see fold.h). */
#include "fold.h"

#include <math.h>
#include <string.h>

int fold_int(int op, int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    int ovf;
    switch (op) {
    case '+': ovf = __builtin_add_overflow(a, b, &r); break;
    case '-': ovf = __builtin_sub_overflow(a, b, &r); break;
    case '*': ovf = __builtin_mul_overflow(a, b, &r); break;
    default: return 0;
    }
    if (ovf || r > FOLD_INT_LIMIT || r < -FOLD_INT_LIMIT)
        return 0;
    *out = r;
    return 1;
}

double fold_real(int op, double a, double b)
{
    switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '^': return pow(a, b);
    default: return NAN;
    }
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double relu(double x) { return x > 0 ? x : 0; }
/* log(1 + e^x) overflows to inf for x > ~709 although the value is ~x */
static double softplus(double x) { return x > 30 ? x : log1p(exp(x)); }

int fold_unary(const char *name, double x, double *out)
{
    static const struct { const char *name; double (*f)(double); } fns[] = {
        { "tanh", tanh }, { "sigmoid", sigmoid }, { "relu", relu }, { "softplus", softplus },
        { "exp", exp }, { "log", log }, { "sin", sin }, { "cos", cos }, { "sqrt", sqrt }, { "abs", fabs },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, name) == 0) {
            *out = fns[i].f(x);
            return 1;
        }
    return 0;
}
