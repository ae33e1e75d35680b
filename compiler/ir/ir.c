/* ir.c - building graph IR values, with shape and batching inference, and
 * the --emit=ir printer. */
#include "ir.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int arity, elementwise;
} op_info[IR_OP_COUNT] = {
#define IR_INFO(name, arity, elementwise) { #name, arity, elementwise },
    IR_OPS(IR_INFO)
#undef IR_INFO
};

const char *ir_op_name(IrOp op) { return op_info[op].name; }
int ir_op_arity(IrOp op) { return op_info[op].arity; }
int ir_op_is_elementwise(IrOp op) { return op_info[op].elementwise; }

int64_t ir_shape_size(const IrShape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int ir_shape_equal(const IrShape *a, const IrShape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

IrShape ir_shape(int rank, const int64_t *dims)
{
    IrShape s = { .rank = rank };
    for (int i = 0; i < rank; i++)
        s.dim[i] = dims[i];
    return s;
}

IrShape ir_scalar(void)
{
    IrShape s = { .rank = 0 };
    return s;
}

int ir_broadcast(const IrShape *a, const IrShape *b, IrShape *out)
{
    int rank = a->rank > b->rank ? a->rank : b->rank;
    IrShape r = { .rank = rank };
    for (int i = 0; i < rank; i++) {
        int ia = a->rank - rank + i, ib = b->rank - rank + i;
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return 0;
        r.dim[i] = da == 1 ? db : da;
    }
    *out = r;
    return 1;
}

void ir_shape_print(FILE *out, const IrShape *s)
{
    fputc('[', out);
    for (int i = 0; i < s->rank; i++)
        fprintf(out, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    fputc(']', out);
}

void ir_init(IrFunc *f)
{
    memset(f, 0, sizeof *f);
}

void ir_output(IrFunc *f, IrId id, int slot, int64_t offset)
{
    if (f->nout == f->out_cap) {
        f->out_cap = f->out_cap ? 2 * f->out_cap : 8;
        f->out = realloc(f->out, f->out_cap * sizeof *f->out);
        if (!f->out) {
            fputs("exac: out of memory\n", stderr);
            exit(2);
        }
    }
    f->out[f->nout++] = (IrOutput){ .value = id, .slot = slot, .offset = offset };
}

void ir_free(IrFunc *f)
{
    free(f->v);
    free(f->out);
    memset(f, 0, sizeof *f);
}

IrId *ir_rewrite_begin(IrFunc *f, IrFunc *old)
{
    *old = *f;
    ir_init(f);
    f->name = old->name;
    f->sgd_slot = old->sgd_slot;
    IrId *map = malloc(((size_t)old->n + 1) * sizeof *map);
    if (!map) {
        fputs("exac: out of memory\n", stderr);
        exit(2);
    }
    return map;
}

IrId ir_copy_mapped(IrFunc *f, const IrFunc *old, IrId v, IrId *map)
{
    IrValue c = old->v[v];
    for (int i = 0; i < ir_op_arity(c.op); i++)
        c.in[i] = map[c.in[i]];
    return map[v] = ir_add(f, &c);
}

void ir_rewrite_end(IrFunc *f, IrFunc *old, const IrId *map)
{
    for (int i = 0; i < old->nout; i++)
        ir_output(f, map[old->out[i].value], old->out[i].slot, old->out[i].offset);
    ir_free(old);
}

/* Result shape of a matrix product: [m, n] @ [n] -> [m], [m, n] @ [n, k] ->
 * [m, k], [n] @ [n, k] -> [k].  The checker has verified the dimensions. */
static IrShape matmul_shape(const IrShape *a, const IrShape *b)
{
    IrShape r = { 0 };
    if (a->rank == 2 && b->rank == 1) {
        r.rank = 1;
        r.dim[0] = a->dim[0];
    } else if (a->rank == 2 && b->rank == 2) {
        r.rank = 2;
        r.dim[0] = a->dim[0];
        r.dim[1] = b->dim[1];
    } else {
        assert(a->rank == 1 && b->rank == 2);
        r.rank = 1;
        r.dim[0] = b->dim[1];
    }
    return r;
}

static IrShape reduce_shape(const IrShape *a, int axis)
{
    if (axis < 0)
        return ir_scalar();
    IrShape r = { .rank = a->rank - 1 };
    for (int i = 0, j = 0; i < a->rank; i++)
        if (i != axis)
            r.dim[j++] = a->dim[i];
    return r;
}

/* Fills in shape and batching where they follow from the operands. */
static void infer(const IrFunc *f, IrValue *v)
{
    const IrValue *a = v->in[0] >= 0 ? &f->v[v->in[0]] : NULL;
    const IrValue *b = v->in[1] >= 0 ? &f->v[v->in[1]] : NULL;
    if (ir_op_is_elementwise(v->op) && v->op != IR_CONST) {
        v->batched = a->batched || (b && b->batched);
        if (b) {
            int ok = ir_broadcast(&a->shape, &b->shape, &v->shape);
            assert(ok && "operands of an elementwise op must broadcast");
            (void)ok;
        } else {
            v->shape = a->shape;
        }
        return;
    }
    switch (v->op) {
    case IR_CONST:
        v->shape = ir_scalar();
        v->batched = 0;
        break;
    case IR_MATMUL:
        v->shape = matmul_shape(&a->shape, &b->shape);
        v->batched = a->batched || b->batched;
        break;
    case IR_SUM:
    case IR_MEAN:
    case IR_MAX:
        v->shape = reduce_shape(&a->shape, v->iarg[0]);
        v->batched = a->batched;
        break;
    case IR_LOGSUMEXP:
        v->shape = ir_scalar();
        v->batched = a->batched;
        break;
    case IR_SOFTMAX:
        v->shape = a->shape;
        v->batched = a->batched;
        break;
    case IR_ALLREDUCE:
    case IR_BATCH_STAT:
        v->shape = a->shape;
        v->batched = 0;
        break;
    case IR_PICK:
        v->shape = ir_scalar();
        v->batched = 1;
        break;
    case IR_PICK_GRAD:
        v->batched = 1; /* shape from proto: the picked vector's */
        break;
    case IR_CONV:
    case IR_CONV_GRAD_X:
        v->batched = a->batched || b->batched;
        break;
    case IR_OUTER:
    case IR_CONV_GRAD_W:
        break; /* shape and batching (summed over the batch or not) as given */
    case IR_TRANSPOSE: /* [m, n] -> [n, m] */
        v->shape = a->shape;
        v->shape.dim[0] = a->shape.dim[1];
        v->shape.dim[1] = a->shape.dim[0];
        v->batched = a->batched;
        break;
    case IR_MAXPOOL:
    case IR_MAXPOOL_GRAD:
    case IR_RESHAPE:
    case IR_SLICE:
    case IR_SLICE_GRAD:
        v->batched = a->batched;
        break;
    case IR_SLICE_ADD:
        v->shape = a->shape;
        v->batched = a->batched || b->batched;
        break;
    case IR_OUTER_ADD:
        v->shape = a->shape;
        v->batched = a->batched;
        break;
    case IR_CONCAT: /* along axis 0 */
        v->shape = a->shape;
        v->shape.dim[0] = a->shape.dim[0] + b->shape.dim[0];
        v->batched = a->batched || b->batched;
        break;
    default: /* leaves, REDUCE_TO, BROADCAST: as given */
        break;
    }
}

IrId ir_add(IrFunc *f, const IrValue *proto)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = realloc(f->v, f->cap * sizeof *f->v);
        if (!f->v) {
            fputs("exac: out of memory\n", stderr);
            exit(2);
        }
    }
    IrValue *v = &f->v[f->n];
    *v = *proto;
    for (int i = 0; i < ir_op_arity(v->op); i++)
        assert(v->in[i] >= 0 && v->in[i] < f->n);
    infer(f, v);
    return f->n++;
}

static IrValue blank(IrOp op)
{
    IrValue v = { .op = op, .in = { -1, -1, -1 }, .stage = -1 };
    return v;
}

IrId ir_unary(IrFunc *f, IrOp op, IrId a)
{
    IrValue v = blank(op);
    v.in[0] = a;
    v.stage = f->v[a].stage;
    return ir_add(f, &v);
}

IrId ir_binary(IrFunc *f, IrOp op, IrId a, IrId b)
{
    IrValue v = blank(op);
    v.in[0] = a;
    v.in[1] = b;
    v.stage = f->v[a].stage >= f->v[b].stage ? f->v[a].stage : f->v[b].stage;
    return ir_add(f, &v);
}

IrId ir_const(IrFunc *f, double c)
{
    IrValue v = blank(IR_CONST);
    v.c = c;
    return ir_add(f, &v);
}

IrId ir_reduce(IrFunc *f, IrOp op, IrId a, int axis)
{
    IrValue v = blank(op);
    v.in[0] = a;
    v.iarg[0] = axis;
    v.stage = f->v[a].stage;
    return ir_add(f, &v);
}

IrId ir_reduce_to(IrFunc *f, IrId a, const IrShape *shape, int batched)
{
    const IrValue *src = &f->v[a];
    if (ir_shape_equal(&src->shape, shape) && src->batched == batched)
        return a;
    IrValue v = blank(IR_REDUCE_TO);
    v.in[0] = a;
    v.shape = *shape;
    v.batched = batched;
    v.stage = src->stage;
    return ir_add(f, &v);
}

void ir_dump(FILE *out, const IrFunc *f, const IrParam *params, int nparams)
{
    if (f->name)
        fprintf(out, "func %s\n", f->name);
    for (int i = 0; i < nparams; i++) {
        fprintf(out, "param %d %s ", i, params[i].path);
        ir_shape_print(out, &params[i].shape);
        fprintf(out, " offset %lld stage %d\n", (long long)params[i].offset, params[i].stage);
    }
    for (int i = 0; i < f->n; i++) {
        const IrValue *v = &f->v[i];
        fprintf(out, "%%%d = %s", i, ir_op_name(v->op));
        for (int k = 0; k < ir_op_arity(v->op); k++)
            fprintf(out, "%s%%%d", k ? ", " : " ", v->in[k]);
        switch (v->op) {
        case IR_CONST:
        case IR_FILL: fprintf(out, " %.17g", v->c); break;
        case IR_INPUT:
        case IR_PARAM:
        case IR_LABEL: fprintf(out, " #%d", v->iarg[0]); break;
        case IR_SUM:
        case IR_MEAN:
        case IR_MAX: fprintf(out, " axis %d", v->iarg[0]); break;
        case IR_ALLREDUCE: if (v->iarg[0]) fputs(" weighted", out); break;
        case IR_CONV:
        case IR_CONV_GRAD_X:
        case IR_CONV_GRAD_W: fprintf(out, " stride %d pad %d", v->iarg[0], v->iarg[1]); break;
        case IR_MAXPOOL:
        case IR_MAXPOOL_GRAD: fprintf(out, " window %d stride %d", v->iarg[0], v->iarg[1]); break;
        case IR_SLICE:
        case IR_SLICE_GRAD:
        case IR_SLICE_ADD: {
            const IrShape *src = v->op == IR_SLICE ? &f->v[v->in[0]].shape : &v->shape;
            for (int d = 0; d < src->rank; d++)
                fprintf(out, "%s%lld:%lld", d ? "," : " [", (long long)v->slice[d][0],
                        (long long)v->slice[d][1]);
            if (src->rank)
                fputc(']', out);
            break;
        }
        default: break;
        }
        fputs(" : ", out);
        ir_shape_print(out, &v->shape);
        fputs(v->batched ? " batched" : " uniform", out);
        if (v->stage >= 0)
            fprintf(out, " stage %d", v->stage);
        if (v->name)
            fprintf(out, " ; %s", v->name);
        fputc('\n', out);
    }
    for (int i = 0; i < f->nout; i++)
        fprintf(out, "out %%%d -> slot %d offset %lld\n", f->out[i].value, f->out[i].slot,
                (long long)f->out[i].offset);
}
