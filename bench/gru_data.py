#!/usr/bin/python3
"""gru_data.py DIR - writes DIR/gru_x.npy (1000 random sequences, float32
[1000, 128, 16], standard normal) and DIR/gru_y.npy (int32 labels 0..9) for
the GRU models of bench/throughput.sh, without NumPy (not installed here)."""
import random
import struct
import sys


def save(path, descr, shape, fmt, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"  # total a multiple of 64
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def main():
    d = sys.argv[1]
    r = random.Random(1)
    n, steps, k = 1000, 128, 16
    save(d + "/gru_x.npy", "<f4", (n, steps, k), "f", [r.gauss(0, 1) for _ in range(n * steps * k)])
    save(d + "/gru_y.npy", "<i4", (n,), "i", [r.randrange(10) for _ in range(n)])


if __name__ == "__main__":
    main()
