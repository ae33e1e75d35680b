#!/usr/bin/env python3
"""The coefficients of the generated f32 tanh (compiler/backend/codegen_llvm_loop.c).

tanh x = x P(x^2) / Q(x^2), P of degree n and Q of degree m in t = x^2, P(0) = Q(0) = 1,
fitted by the Remez exchange for the least maximal *relative* error on x in [0, X].
Needs mpmath (50 digits).  usage: python3 bench/tanh_fit.py [n m X]   (default 5 4 9.2)
Prints the equioscillation level E, the largest error seen on a fine grid, and the
coefficients p1..pn, q1..qm.  The achieved error of the float code (coefficients and
arithmetic in float) is measured by tests/codegen/cg_ulp.c, not here.
"""
import sys

import mpmath as mp

mp.mp.dps = 50
n, m, X = (int(sys.argv[1]), int(sys.argv[2]), mp.mpf(sys.argv[3])) if len(sys.argv) == 4 else (5, 4, mp.mpf("9.2"))
T = X * X
K = n + m + 1  # reference points: n + m coefficients and the level E


def g(t):
    """tanh(sqrt t) / sqrt t, the function P/Q stands for"""
    if t == 0:
        return mp.mpf(1)
    s = mp.sqrt(t)
    return mp.tanh(s) / s


def pq(c, t):
    P = 1 + sum(c[k] * t ** (k + 1) for k in range(n))
    Q = 1 + sum(c[n + k] * t ** (k + 1) for k in range(m))
    return P, Q


def rel_err(c, t):
    P, Q = pq(c, t)
    return (P / Q - g(t)) / g(t)


# start: interpolation (E = 0) at Chebyshev points of (0, T]
ref = [T * (1 - mp.cos(mp.pi * (i + 1) / K)) / 2 for i in range(K)]
A = mp.matrix(n + m, n + m)
b = mp.matrix(n + m, 1)
for i in range(n + m):
    t = ref[i]
    for k in range(n):
        A[i, k] = t ** (k + 1)
    for k in range(m):
        A[i, n + k] = -g(t) * t ** (k + 1)
    b[i] = g(t) - 1
c = list(mp.lu_solve(A, b))
E = mp.mpf(0)
grid = [T * (1 - mp.cos(mp.pi * j / 4000)) / 2 for j in range(1, 4001)]
for it in range(40):
    # P(t_i) = g(t_i) (1 + (-1)^i E) Q(t_i) at the reference points, by Newton
    def F(*z):
        return [pq(z, t)[0] - g(t) * (1 + (-1) ** i * z[n + m]) * pq(z, t)[1] for i, t in enumerate(ref)]

    z = mp.findroot(F, c + [E], tol=mp.mpf(10) ** -40, maxsteps=200)
    c, E = [z[i] for i in range(n + m)], z[n + m]
    # exchange: the extremum of each run of one sign on a fine grid
    es = [rel_err(c, t) for t in grid]
    runs, cur = [], [0]
    for j in range(1, len(grid)):
        if mp.sign(es[j]) == mp.sign(es[cur[-1]]):
            cur.append(j)
        else:
            runs.append(cur)
            cur = [j]
    runs.append(cur)
    ext = [max(r, key=lambda j: abs(es[j])) for r in runs]
    if len(ext) < K:
        sys.exit("tanh_fit: the error does not alternate %d times (%d)" % (K, len(ext)))
    big = max(range(len(ext)), key=lambda i: abs(es[ext[i]]))
    lo = max(0, min(big - K // 2, len(ext) - K))
    ref = [grid[j] for j in ext[lo:lo + K]]
    worst = max(abs(e) for e in es)
    if abs(worst - abs(E)) < 1e-6 * abs(E):
        break
print("E %s  max %s  (%d exchanges)" % (mp.nstr(E, 6), mp.nstr(worst, 6), it + 1))
for k in range(n):
    print("p%d %s" % (k + 1, mp.nstr(c[k], 25)))
for k in range(m):
    print("q%d %s" % (k + 1, mp.nstr(c[n + k], 25)))
