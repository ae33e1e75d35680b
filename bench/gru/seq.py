#!/usr/bin/env python3
"""seq.py T N DIR - a generated sequence classification set for bench/gru_mgrit.sh:
N sequences of T steps of 1 feature, x_t = sin(2 pi f t / T + phase) + 0.3 noise,
class y = 0 for f in {1, 2}, 1 for f in {3, 4}; written as DIR/x.npy (float32,
[N, T, 1]) and DIR/y.npy (int32, [N]) without numpy (the .npy 1.0 format)."""
import math, random, struct, sys

def npy(path, descr, shape, payload):
    head = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape))
    pad = 64 - (10 + len(head) + 1) % 64
    head = head + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + payload)

T, N, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
xs, ys = [], []
for _ in range(N):
    f = rng.choice((1, 2, 3, 4))
    ph = rng.uniform(0, 2 * math.pi)
    xs.extend(math.sin(2 * math.pi * f * t / T + ph) + 0.3 * rng.gauss(0, 1) for t in range(T))
    ys.append(0 if f <= 2 else 1)
npy(out + "/x.npy", "<f4", (N, T, 1), struct.pack("<%df" % len(xs), *xs))
npy(out + "/y.npy", "<i4", (N,), struct.pack("<%di" % len(ys), *ys))
