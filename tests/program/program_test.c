/* program_test.c - the descriptor reader: a full descriptor parses into the
 * expected values, and each kind of damage is reported with its line. */
#include <stdio.h>
#include <string.h>

#include "exa/program.h"

static int failures;

#define EXPECT(cond)                                                     \
    do {                                                                 \
        if (!(cond)) {                                                   \
            printf("FAIL line %d: %s\n", __LINE__, #cond);               \
            failures++;                                                  \
        }                                                                \
    } while (0)

static const char good[] =
    "exa-program 1 abi 6\n"
    "source \"peaks.exa\"\n"
    "precision f32\n"
    "weights 24\n"
    "param \"classify/dense#1/W\" offset 0 stage 0 init glorot fan 2 8 shape 2 8 2\n"
    "param \"classify/dense#1/b\" offset 16 stage 0 init normal 0.5 fan 2 8 shape 1 8\n"
    "stages 3\n"
    "data \"train\" role train source peaks(samples=5000,seed=1)\n"
    "field \"train\" \"x\" real shape 1 2\n"
    "field \"train\" \"y\" class 5\n"
    "data \"test\" role validate source idx(images=\"a b.gz\",scale=0.00392156862745098)\n"
    "train epochs 20 batch 5000 seed 7\n"
    "setting checkpoint \"ckpt/\"\n"
    "optimizer lbfgs(history=10)\n"
    "decompose params(by=stage,groups=ranks,local=lbfgs(steps=10),combine=additive)\n"
    "function 0 loss_grad inputs 2 outputs 3\n"
    "metric accuracy output 1 label 1\n"
    "end\n";

static void expect_error(const char *text, const char *want)
{
    ExaProgram p;
    char err[256] = "";
    int rc = exa_program_parse(text, &p, err, sizeof err);
    if (rc == 0 || !strstr(err, want)) {
        printf("FAIL: expected an error containing '%s', got rc %d '%s'\n", want, rc, err);
        failures++;
    }
    if (rc == 0)
        exa_program_free(&p);
}

int main(void)
{
    ExaProgram p;
    char err[256] = "";
    int rc = exa_program_parse(good, &p, err, sizeof err);
    EXPECT(rc == 0);
    if (rc != 0) {
        printf("parse failed: %s\n", err);
        return 1;
    }
    EXPECT(p.precision == 4 && p.nweights == 24 && p.nparams == 2 && p.nstages == 3);
    EXPECT(strcmp(p.params[0].path, "classify/dense#1/W") == 0 && p.params[0].size == 16);
    EXPECT(p.params[0].shape.rank == 2 && p.params[0].shape.dim[0] == 8);
    EXPECT(p.params[1].init == EXA_INIT_NORMAL && p.params[1].init_a == 0.5);
    EXPECT(p.ndata == 2 && p.data[0].nfields == 2 && p.data[0].fields[1].classes == 5);
    EXPECT(exa_program_data(&p, EXA_ROLE_VALIDATE) == &p.data[1]);
    EXPECT(strcmp(exa_call_ident(p.data[1].source, "images", ""), "a b.gz") == 0);
    EXPECT(p.epochs == 20 && p.batch == 5000 && p.seed == 7);
    EXPECT(exa_call_num(p.optimizer, "history", 0) == 10);
    const ExaValue *local = exa_call_arg(p.decompose, "local");
    EXPECT(local && local->kind == EXA_CALL && exa_call_num(local->call, "steps", 0) == 10);
    EXPECT(strcmp(exa_call_ident(p.decompose, "combine", ""), "additive") == 0);
    EXPECT(exa_program_function(&p, "loss_grad") && exa_program_function(&p, "loss_grad")->noutputs == 3);
    EXPECT(p.accuracy_output == 1 && p.accuracy_label == 1);
    char text[256];
    exa_call_print(p.decompose, text, sizeof text);
    EXPECT(strcmp(text, "params(by: stage, groups: ranks, local: lbfgs(steps: 10), combine: additive)") == 0);
    exa_program_free(&p);

    expect_error("exa-program 2\nend\n", "version 2");
    /* a program compiled for another ABI (or before the abi field): one sentence */
    char future[64], said[128];
    snprintf(said, sizeof said, "compiled for libexa ABI 1, but this libexa has ABI %d", EXA_ABI_VERSION);
    expect_error("exa-program 1\nend\n", said);
    snprintf(future, sizeof future, "exa-program 1 abi %d\nend\n", EXA_ABI_VERSION + 1);
    snprintf(said, sizeof said, "compiled for libexa ABI %d, but this libexa has ABI %d", EXA_ABI_VERSION + 1,
             EXA_ABI_VERSION);
    expect_error(future, said);
    EXPECT(exa_program_parse("exa-program 1 abi 1\nend\n", &p, err, sizeof err) == EXA_PROGRAM_ABI_MISMATCH);
    expect_error("exa-program 1 abi 6\nfunction 0 loss_hessian inputs 2 outputs 3\nend\n",
                 "unknown function kind 'loss_hessian'");
    expect_error("exa-program 1 abi 6\nfunction 0 loss inputs 2 outputs 3\nend\n", "has 3 outputs");
    EXPECT(exa_function_kind_of("stage_vjp") == EXA_FN_STAGE_VJP && exa_function_kind_of("stage") == -1);
    EXPECT(strcmp(exa_function_kind_name(EXA_FN_EPILOGUE_GRAD), "epilogue_grad") == 0);
    expect_error("exa-program 1 abi 6\nprecision f32\noptimizer sgd(lr=0.1)\n", "truncated");
    expect_error("exa-program 1 abi 6\nprecision f16\nend\n", "line 2: unknown precision 'f16'");
    expect_error("exa-program 1 abi 6\nweights 4\nparam \"w\" offset 2 stage 0 init zeros fan 1 1 shape 1 4\nend\n",
                 "line 3: parameter 'w' lies outside");
    expect_error("exa-program 1 abi 6\noptimizer sgd(lr=0.1\nend\n", "line 2: expected ',' or ')'");
    expect_error("exa-program 1 abi 6\nfrobnicate 3\nend\n", "line 2: unknown record 'frobnicate'");
    /* a batch statistic outside the weights, or with a momentum out of (0, 1] */
    expect_error("exa-program 1 abi 6\nweights 4\nbatchstat offset 2 size 4 momentum 0.1\nend\n",
                 "line 3: bad batch statistic");
    expect_error("exa-program 1 abi 6\nweights 4\nbatchstat offset 0 size 4 momentum 0\nend\n",
                 "line 3: bad batch statistic");
    printf("%d failed\n", failures);
    return failures != 0;
}
