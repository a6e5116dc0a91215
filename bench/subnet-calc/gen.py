#!/usr/bin/env python3
"""Benchmark inputs for subnet-calc, reproducible (fixed seed).

gen.py aggregate N [MIN]  -> N random IPv4 networks, prefixes /MIN../32
                             (MIN defaults to 8), host bits clear
gen.py batch N            -> N random IPv4 ADDR/PREFIX lines (host bits
                             kept), /8../32
"""
import random
import sys

kind, n = sys.argv[1], int(sys.argv[2])
low = int(sys.argv[3]) if len(sys.argv) > 3 else 8
rng = random.Random(6)
out = sys.stdout
lines = []
for _ in range(n):
    p = rng.randint(low, 32)
    a = rng.getrandbits(32)
    if kind == "aggregate":
        a &= (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF
    lines.append("%d.%d.%d.%d/%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, p))
out.write("\n".join(lines))
out.write("\n")
