#!/usr/bin/env python3
"""Python's ipaddress.collapse_addresses on a file of CIDRs (one a line),
printing the result like `subnet-calc aggregate`. Reports on stderr the time
spent parsing and collapsing, separately."""
import ipaddress
import sys
import time

t0 = time.perf_counter()
with open(sys.argv[1]) as f:
    nets = [ipaddress.ip_network(line.strip()) for line in f if line.strip()]
t1 = time.perf_counter()
out = list(ipaddress.collapse_addresses(nets))
t2 = time.perf_counter()
sys.stdout.write("".join(str(n) + "\n" for n in out))
print("python: parse %.3f s, collapse %.3f s, %d -> %d networks"
      % (t1 - t0, t2 - t1, len(nets), len(out)), file=sys.stderr)
