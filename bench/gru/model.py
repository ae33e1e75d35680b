#!/usr/bin/env python3
"""model.py RAW - docs/results/mgrit_performance.md's MGRIT performance model
for the implicit GRU recurrence, fitted to bench/gru_mgrit.sh's raw output
(the 128-step `bench:` lines at 1 rank and the `pingpong:` lines) and carried
to 1024 ranks.

  t_call = T_mgrit(1 rank) / (forward + adjoint step calls)      [s]
  k_l    = step calls on level l per point n_l = N / c^l (both solves, 2 iterations)
  T(P)   = sum_{l < L-1} k_l t_call max(ceil(n_l / P), min(c, n_l))
         + k_{L-1} t_call n_{L-1}                       (coarsest level: serial)
         + M L (alpha + S / beta)                       (neighbour messages, M = 24)
         + 2 log2(P) alpha + 2 (P - 1) / P G / beta     (gradient allreduce)
  T_s    = N t_s, t_s the serial loss_grad per step (measured at N = 128)

S = B w 4 bytes (a state), G the GRU's and the classifier's parameters in f32.
Two hierarchies: the measured one (2 levels, cfactor 4: the coarse level has
N/4 points, solved serially) and as many levels as N allows (cfactor 4,
coarsest >= 2 points, at most 10), with the finer levels' calls per point
taken for every non-coarsest level.  Both at 2 iterations per solve, the
example's setting (the iterations do not change with P; their accuracy with
the number of levels does: part 1 of bench/gru_mgrit.sh)."""
import math, re, sys

run, pp, measured2 = None, {}, None
for line in open(sys.argv[1]).read().splitlines():
    m = re.match(r"bench: ranks (\d+) batch (\d+) steps (\d+) width (\d+): serial (\S+) s mgrit (\S+) s", line)
    if m:
        P, B, N, w = map(int, m.group(1, 2, 3, 4))
        cur = {"P": P, "B": B, "N": N, "w": w, "serial": float(m.group(5)), "mgrit": float(m.group(6))}
        if N == 128 and P == 1:
            run = cur
        if N == 128 and P == 2:
            measured2 = cur["mgrit"]
        continue
    m = re.match(r"bench: step calls per level, forward: ([\d ]+); adjoint: ([\d ]+)", line)
    if m and cur is run and run is not None and "calls" not in run:
        f = list(map(int, m.group(1).split())); a = list(map(int, m.group(2).split()))
        run["calls"] = [x + y for x, y in zip(f, a)]
        continue
    m = re.match(r"pingpong: (\d+) bytes (\S+) s", line)
    if m:
        pp[int(m.group(1))] = float(m.group(2))
if run is None or "calls" not in run or len(pp) < 2:
    sys.exit("model.py: no 128-step bench run at 1 rank or no ping-pong in " + sys.argv[1])

xs = list(pp); ys = [pp[k] for k in xs]; n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
alpha, beta = max(my - slope * mx, min(ys)), 1 / slope
C, M, N0, B, w = 4, 24, run["N"], run["B"], run["w"]
tcall = run["mgrit"] / sum(run["calls"])
k = [c / (N0 // C ** l) for l, c in enumerate(run["calls"])]
ts = run["serial"] / N0
S, G = B * w * 4, (3 * (w + w * w + w) + 2 * w + 2) * 4
print(f"fit: t_call {tcall:.3e} s, serial {ts:.3e} s per step, calls per point {', '.join(f'{x:.2f}' for x in k)}; "
      f"ping-pong alpha {alpha:.2e} s, beta {beta / 1e9:.2f} GB/s (batch {B}, width {w})")

def levels(N, many):
    if not many:
        return 2
    L = 1
    while L < 10 and N // C ** L >= 2:
        L += 1
    return L

def model(N, P, many):
    L = levels(N, many)
    t = 0.0
    for l in range(L):
        nl = N // C ** l
        kl = k[0] if l < L - 1 else k[-1]
        t += kl * tcall * (nl if l == L - 1 else max(math.ceil(nl / P), min(C, nl)))
    if P > 1:
        t += M * L * (alpha + S / beta) + 2 * math.log2(P) * alpha + 2 * (P - 1) / P * G / beta
    return t

if measured2 is not None:
    print(f"check, N = 128 at 2 ranks: model {model(128, 2, False):.3e} s, measured {measured2:.3e} s")

Ps = [2, 8, 32, 128, 512, 1024]
for title, Nf in (("strong scaling, N = 4096", lambda p: 4096), ("weak scaling, N = 16 P", lambda p: 16 * p)):
    print(f"\n{title}: speedup over the serial loss_grad")
    print("| hierarchy | " + " | ".join(f"P={p}" + ("" if title.startswith("strong") else f" (N={16 * p})") for p in Ps) + " |")
    print("|---|" + "---|" * len(Ps))
    for many in (False, True):
        name = "as many levels as N allows, cfactor 4" if many else "2 levels, cfactor 4 (measured)"
        print(f"| {name} | " + " | ".join(f"{Nf(p) * ts / model(Nf(p), p, many):.2f}" for p in Ps) + " |")
