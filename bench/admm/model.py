#!/usr/bin/env python3
"""model.py RAW - the performance model of pdADMM (docs/results/admm.md),
fitted to bench/admm.sh's raw output ("admm P SECONDS" lines: seconds per
iteration of examples/fashion_admm.exa on 3000 samples; "pingpong:" lines).

Per iteration, with N samples and layer l of n_l inputs and m_l outputs:
  t_l     = c N (n_l m_l + n_l + m_l)      compute of layer l's updates
            (p and W: a gradient and a few backtracking products each,
             z, q, u elementwise); c fitted to the 1-rank time
  T(1)    = sum_l t_l
  T(P)    = max over ranks of the sum of its group's t_l   (runtime/methods/admm.c
            groups layers by this same work)
          + alpha + 8 N 2 m_last / beta   (q and u to the right: not overlapped)
          + max(0, alpha + 8 N n_first / beta - overlap)   (p to the left,
            overlapped with the W, b, z updates; counted as 0 here)
  alpha, beta: a straight line through the ping-pong's 64 KiB and 1 MiB points
  (this machine: shared memory between 2 cores; a network is slower).
The model is checked against the measured 2-rank time, then carried to the
paper's setting (MNIST: N = 55000, 196 inputs, hidden width w, 10 outputs)
for 10, 30 and 100 layers and P up to min(L, 1024) ranks: pdADMM splits
layers only, so more ranks than layers do nothing.
"""
import re, sys

raw = open(sys.argv[1]).read().splitlines()
meas, pp = {}, {}
for line in raw:
    m = re.match(r"admm (\d+) (\S+)", line)
    if m:
        meas[int(m.group(1))] = float(m.group(2))
    m = re.match(r"pingpong: (\d+) bytes (\S+) s", line)
    if m:
        pp[int(m.group(1))] = float(m.group(2))
beta = (1048576 - 65536) / (pp[1048576] - pp[65536])
alpha = max(pp[65536] - 65536 / beta, pp[8])

def work(dims):
    return [n * m + n + m for n, m in dims]

def groups(w, P):
    """the contiguous grouping of runtime/methods/admm.c, group()"""
    L, total, run, prev, b, bounds = len(w), sum(w), 0.0, 0, 0, [0]
    for j in range(1, P):
        while b < L and run + w[b] / 2 < total * j / P:
            run += w[b]; b += 1
        at = b
        if at <= prev: at = prev + 1
        if at > L - (P - j): at = L - (P - j)
        while b < at: run += w[b]; b += 1
        while b > at: b -= 1; run -= w[b]
        bounds.append(at); prev = at
    return bounds + [L]

def T(dims, N, P, c):
    w = work(dims)
    b = groups(w, P)
    comp = max(sum(w[b[k]:b[k + 1]]) for k in range(P)) * c * N
    comm = 0.0
    if P > 1:
        m = max(dims[b[k + 1] - 1][1] for k in range(P - 1))
        comm = alpha + 8 * N * 2 * m / beta
    return comp + comm, comp, comm

ex = [(784, 64), (64, 64), (64, 64), (64, 64), (64, 10)]
N = 3000
c = meas[1] / (sum(work(ex)) * N)
print("fitted: c = %.3e s per sample x (n m + n + m); alpha = %.2e s, beta = %.2e B/s (ping-pong)" % (c, alpha, beta))
t2, comp2, comm2 = T(ex, N, 2, c)
print("example 784-64-64-64-64-10, 3000 samples: measured 1 rank %.3f s, 2 ranks %.3f s (speedup %.2f); "
      "model 2 ranks %.3f s (compute %.3f + messages %.4f; speedup %.2f); groups at 2 ranks: %s"
      % (meas[1], meas[2], meas[1] / meas[2], t2, comp2, comm2, meas[1] / t2, groups(work(ex), 2)))
print()
print("| layers L | hidden width | ranks P | T(1) s | T(P) s | messages s | speedup | note |")
print("|---|---|---|---|---|---|---|---|")
N = 55000
for L in (10, 30, 100):
    for wdt in (1500, 2000, 2400):
        if L != 10 and wdt != 2000:
            continue
        dims = [(196, wdt)] + [(wdt, wdt)] * (L - 2) + [(wdt, 10)]
        t1 = T(dims, N, 1, c)[0]
        for P in (2, 5, 10, 30, 100, 1024):
            note = ""
            if P > L:
                if P != 1024:
                    continue
                note = "P > L: %d ranks idle, same as P = L" % (P - L)
                P_eff = L
            else:
                P_eff = P
            tp, comp, comm = T(dims, N, P_eff, c)
            print("| %d | %d | %d | %.1f | %.2f | %.3f | %.1f | %s |" % (L, wdt, P, t1, tp, comm, t1 / tp, note))
