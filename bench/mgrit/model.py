#!/usr/bin/env python3
"""model.py RAW - the performance model of docs/results/mgrit_performance.md,
fitted to bench/mgrit_scaling.sh's raw output (bench: lines and pingpong:).

Per configuration (N steps, width w, batch B, cfactor c = 4, 2 iterations):
  t_call  = T_mgrit(1 rank) / (all forward + adjoint step calls)   [s]
            (the fitted cost of one step call on the batch; it includes the
             vjp calls, vector operations and norms, spread over the calls)
  k_l     = step calls on level l / n_l, n_l = N / c^l points    (measured)
  T(P)    = sum_l k_l t_call max(ceil(n_l / P), min(c, n_l))      (non-coarsest)
          + k_L t_call n_L                                        (coarsest: serial)
          + M (alpha + S / beta) * L                               (neighbour messages)
          + 2 log2(P) alpha + 2 (P-1)/P G / beta                   (gradient allreduce)
  with S = B w elem bytes per state message, G = parameter bytes, M = 24
  messages per level on the critical path per evaluation (2 solves x 2
  iterations x ~6 neighbour exchanges per FCF cycle and level), alpha and
  beta from the ping-pong.  Serial: T_s = N t_s, t_s measured per step.
Prints the fit, the check at 2 ranks, strong (N = 2048) and weak (N = 16 P)
scaling tables to P = 1024 and the break-even rank count of each (the least P
whose predicted speedup over the serial loss_grad reaches 1), and the 1-rank
overhead ratio of each configuration (bench: work: MGRIT time over its step
calls' serial work, (forward + adjoint + vjp calls) / 2 serial steps).
"""
import math, os, re, sys

# MGRIT_MODEL_CPU=1: take the 1-rank times from the "bench: cpu" lines (this
# rank's CPU seconds, for a loaded machine) instead of the wall-clock ones.
CPU = os.environ.get("MGRIT_MODEL_CPU") == "1"
raw = open(sys.argv[1]).read().splitlines()
runs, pp = {}, {}
cur = None
for line in raw:
    m = re.match(r"bench: ranks (\d+) batch (\d+) steps (\d+) width (\d+): serial (\S+) s mgrit (\S+) s", line)
    if m:
        P, B, N, w = map(int, m.group(1, 2, 3, 4))
        cur = runs.setdefault((N, w), {"B": B})
        cur[P] = float(m.group(6))
        cur.setdefault("serial", float(m.group(5)))
        cur["serial"] = min(cur["serial"], float(m.group(5)))
        continue
    m = re.match(r"bench: step calls per level, forward: ([\d ]+); adjoint: ([\d ]+)", line)
    if m and cur is not None:
        f = list(map(int, m.group(1).split())); a = list(map(int, m.group(2).split()))
        cur["calls"] = [x + y for x, y in zip(f, a)]
        continue
    m = re.match(r"bench: cpu \(rank 0\): serial (\S+) s mgrit (\S+) s.*mgrit / predicted (\S+)", line)
    if m and cur is not None and CPU and "cpu" not in cur:  # the 1-rank run comes first
        cur["cpu"] = 1
        cur[1], cur["serial"], cur["ratio"] = float(m.group(2)), float(m.group(1)), float(m.group(3))
        continue
    m = re.match(r"bench: work: .* = (\S+) serial steps per layer; .*mgrit / predicted (\S+)", line)
    if m and cur is not None and "work" not in cur:  # the 1-rank run comes first
        cur["work"] = float(m.group(1))
        if not CPU:
            cur["ratio"] = float(m.group(2))
        continue
    m = re.match(r"pingpong: (\d+) bytes (\S+) s", line)
    if m:
        pp[int(m.group(1))] = float(m.group(2))

# latency and bandwidth: least squares t = alpha + bytes / beta (without a
# ping-pong in RAW: the on-node fit of docs/results/mgrit_performance.md)
if pp:
    xs, ys = list(pp), [pp[k] for k in pp]
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    alpha, beta = max(my - slope * mx, min(ys)), 1 / slope
else:
    alpha, beta = 1.4e-6, 11.4e9
print(f"ping-pong fit: alpha = {alpha:.2e} s, beta = {beta / 1e9:.2f} GB/s" + ("" if pp else " (no ping-pong in RAW: the documented fit)"))

C, ELEM, M = 4, 4, 24

def model(N, w, B, calls, tcall, P):
    L = len(calls)
    t = 0.0
    for l, cl in enumerate(calls):
        nl = N // C ** l
        k = cl / nl
        if l == L - 1:
            t += k * tcall * nl
        else:
            t += k * tcall * max(math.ceil(nl / P), min(C, nl))
    if P > 1:
        S = B * w * ELEM
        G = (N * (w * w + w) + 2 * w + 5 * w + 5) * ELEM
        t += M * L * (alpha + S / beta)
        t += 2 * math.log2(P) * alpha + 2 * (P - 1) / P * G / beta
    return t

def calls_for(N, calls128):
    """Per-point calls of level l carry over to any N (fixed iterations);
    levels: N / 4^l >= 2 and at most 10."""
    out, l = [], 0
    base = calls128
    while l < 10 and N // C ** l >= 2 and (l == 0 or N // C ** l >= 2):
        nl = N // C ** l
        ref = base[min(l, len(base) - 2)] / (128 // C ** min(l, len(base) - 2))
        out.append(ref * nl)
        l += 1
    # coarsest: as measured, per point
    out[-1] = base[-1] / (128 // C ** (len(base) - 1)) * (N // C ** (len(out) - 1))
    return out

print("\nfit and check at 2 ranks:")
print("| N | w | t_s per step per sample | t_call per sample | T(2) model | T(2) measured | 1-rank work (serial steps per layer) | 1-rank overhead ratio |")
print("|---|---|---|---|---|---|---|---|")
fits = {}
for (N, w), r in sorted(runs.items()):
    B = r["B"]; tcall = r[1] / sum(r["calls"]); ts = r["serial"] / N
    fits[(N, w)] = (ts, tcall, r["calls"], B)
    t2 = f"{r[2]:.3e}" if 2 in r else "-"
    print(f"| {N} | {w} | {ts / B:.2e} | {tcall / B:.2e} | {model(N, w, B, r['calls'], tcall, 2):.3e} | {t2} "
          f"| {r.get('work', float('nan')):.2f} | {r.get('ratio', float('nan')):.2f} |")

Ps = [8, 32, 64, 128, 512, 1024]

def speedup_strong(w, p):
    ts, tcall, _, B = fits[(REF, w)]
    return 2048 * ts / model(2048, w, B, calls_for(2048, fits[(128, w)][2]), tcall, p)

def speedup_weak(w, p):
    ts, tcall, _, B = fits[(REF, w)]
    N = 16 * p
    return N * ts / model(N, w, B, calls_for(N, fits[(128, w)][2]), tcall, p)

def break_even(f, w, top=2049):
    """The least rank count whose predicted speedup reaches 1 (None up to top)."""
    return next((p for p in range(1, top) if f(w, p) >= 1.0), None)
REF = max(N for N, w in fits)  # the largest measured N: its per-step costs
print(f"\n(costs per step from N = {REF}; level calls scaled from N = 128 per point)")
print("\nstrong scaling, N = 2048 (speedup over the serial loss_grad):")
print("| w | " + " | ".join(f"P={p}" for p in Ps) + " | break-even P |")
print("|---|" + "---|" * len(Ps) + "---|")
for w in (8, 32, 128):
    print(f"| {w} | " + " | ".join(f"{speedup_strong(w, p):.2f}" for p in Ps)
          + f" | {break_even(speedup_strong, w) or 'none to 2048'} |")
print("\nweak scaling, N = 16 P (speedup over the serial loss_grad of the same N):")
print("| w | " + " | ".join(f"P={p} (N={16 * p})" for p in Ps) + " | break-even P |")
print("|---|" + "---|" * len(Ps) + "---|")
for w in (8, 32, 128):
    print(f"| {w} | " + " | ".join(f"{speedup_weak(w, p):.2f}" for p in Ps)
          + f" | {break_even(speedup_weak, w) or 'none to 2048'} |")
print("\nupper bound, no messages, N = 2048: T_s / (T_1 / P) per width:")
for w in (8, 32, 128):
    ts, tcall, _, B = fits[(REF, w)]
    calls = calls_for(2048, fits[(128, w)][2])
    print(f"w={w}: serial/mgrit(1) = {2048 * ts / (sum(calls) * tcall):.3f}")
