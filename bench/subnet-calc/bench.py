#!/usr/bin/env python3
"""Side-by-side benchmarks for subnet-calc (issue 6). Run by run.sh, which
builds the binaries and installs the competitors; not run in CI.

usage: bench.py SUBNET_CALC AGGREGATE_VS_IPNET WORKDIR N [STATIC_SUBNET_CALC]

STATIC_SUBNET_CALC, if given, is the same program linked statically
(RUSTFLAGS="-C target-feature=+crt-static"); the latency table shows both.

Prints a Markdown report (tables of times and ratios) on stdout.
Every comparison runs both sides in this one run, on the same input file.
"""
import json
import statistics
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN, EXAMPLE, WORK, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
STATIC = sys.argv[5] if len(sys.argv) > 5 else None
ROUNDS, RUNS = 10, 60


def gen(kind, path, *extra):
    if not os.path.exists(path):
        with open(path, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), kind, str(N), *extra],
                           stdout=f, check=True)
    return path


def wall(cmd, stdin_path, runs, out=subprocess.DEVNULL):
    """Best wall-clock time of `runs` runs of cmd with stdin from a file."""
    best = float("inf")
    for _ in range(runs):
        with open(stdin_path, "rb") as f:
            t = time.perf_counter()
            subprocess.run(cmd, stdin=f, stdout=out, stderr=subprocess.DEVNULL, check=False)
            best = min(best, time.perf_counter() - t)
    return best


def output_of(cmd, stdin_path):
    with open(stdin_path, "rb") as f:
        return subprocess.run(cmd, stdin=f, capture_output=True, check=False).stdout


def say(s=""):
    print(s, flush=True)


def bench_aggregate(label, path):
    ours = wall([BIN, "aggregate"], path, 5)
    t = time.perf_counter()
    py_out = subprocess.run([sys.executable, os.path.join(HERE, "collapse.py"), path],
                            capture_output=True, check=True)
    py = time.perf_counter() - t
    same = py_out.stdout == output_of([BIN, "aggregate"], path)
    lib = subprocess.run([EXAMPLE, path], capture_output=True, text=True, check=True).stdout
    vals = {}
    for line in lib.splitlines():
        if "aggregate" in line and "ms" in line:
            vals[line.split()[0]] = float(line.split()[1])
        if line.startswith("outputs:"):
            vals["outputs"] = int(line.split()[1])
    ms_ours = vals["subnet_calc::Ipv4Net::aggregate"]
    ms_ipnet = vals["ipnet::Ipv4Net::aggregate"]
    say(f"**{label}** ({N:,} inputs -> {vals['outputs']:,} CIDRs; outputs identical to Python: {same}; "
        f"Python split: {py_out.stderr.decode().strip()})")
    say()
    say("| what | subnet-calc | competitor | ratio |")
    say("| --- | --- | --- | --- |")
    say(f"| whole program on the file vs `python3 collapse.py` (`ipaddress.collapse_addresses`) "
        f"| {ours * 1e3:.0f} ms | {py:.2f} s | **{py / ours:.0f}x faster** |")
    say(f"| library call on parsed input vs `ipnet::Ipv4Net::aggregate` (best of 7) "
        f"| {ms_ours:.2f} ms | {ms_ipnet:.2f} ms | **{ms_ours / ms_ipnet:.2f}x ipnet's time** |")
    say()


def bench_batch(path):
    ours = wall([BIN, "--json"], path, 5)
    sip = wall(["sipcalc", "-"], path, 1) if shutil.which("sipcalc") else None
    say(f"**Batch mode**, {N:,} lines of random `ADDR/PREFIX` (/8../32) on stdin, output to /dev/null")
    say()
    say("| command | time | lines/s | ratio |")
    say("| --- | --- | --- | --- |")
    say(f"| `subnet-calc --json < batch.txt` | {ours * 1e3:.0f} ms | {N / ours:,.0f} | 1 |")
    if sip is None:
        say("| `sipcalc - < batch.txt` | not installed | | |")
    else:
        say(f"| `sipcalc - < batch.txt` | {sip:.2f} s | {N / sip:,.0f} | "
            f"**subnet-calc {sip / ours:.0f}x faster** |")
    say()


def bench_latency():
    arg = "192.168.9.193/25"
    cmds = [("subnet-calc", BIN)]
    if STATIC:
        cmds.append(("subnet-calc (static)", STATIC))
    cmds += [(p, p) for p in ("ipcalc-ng", "sipcalc", "ipcalc") if shutil.which(p)]
    # hyperfine runs one command's runs back to back; on a shared machine
    # the load drifts between commands, so interleave: ROUNDS rounds of RUNS
    # runs of each command, and keep each command's median across rounds.
    names = [n for n, _ in cmds]
    per_round = {n: [] for n in names}
    for r in range(ROUNDS):
        export = os.path.join(WORK, f"latency-{r}.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "10", "--runs", str(RUNS),
                        "--export-json", export, *[f"{path} {arg}" for _, path in cmds]],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(export) as f:
            for n, res in zip(names, json.load(f)["results"]):
                per_round[n].append(res)
    means = {n: statistics.median(x["mean"] for x in per_round[n]) for n in names}
    meds = {n: statistics.median(x["median"] for x in per_round[n]) for n in names}
    ours = [n for n in names if n.startswith("subnet-calc")]
    fastest = min((n for n in names if n not in ours), key=lambda n: means[n])
    say(f"**One run's latency**, `hyperfine -N --warmup 10 --runs {RUNS} 'CMD {arg}' ...` "
        f"for all commands together, {ROUNDS} rounds; median across rounds of each "
        "round's mean and median")
    say()
    say(f"| command | mean | median | mean / {fastest}'s |")
    say("| --- | --- | --- | --- |")
    for n in names:
        say(f"| {n} | {means[n] * 1e3:.2f} ms | {meds[n] * 1e3:.2f} ms | "
            f"{means[n] / means[fastest]:.2f}x |")
    say()
    if shutil.which("perf"):
        # CPU time is less sensitive than wall time to other load on the
        # machine; `perf stat -r` interleaves nothing, so alternate commands.
        cpu = {n: [] for n in names}
        for _ in range(ROUNDS):
            for n, path in cmds:
                r = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock", "-r", str(RUNS),
                                    path, arg], capture_output=True, text=True, check=True)
                line = next(x for x in r.stderr.splitlines() if "task-clock" in x)
                cpu[n].append(float(line.split(",")[0]))
        ms = {n: statistics.median(v) for n, v in cpu.items()}
        fast_cpu = min((n for n in names if n not in ours), key=lambda n: ms[n])
        say(f"CPU time per run, `perf stat -e task-clock -r {RUNS} CMD {arg}`, commands "
            f"alternated for {ROUNDS} rounds, median across rounds:")
        say()
        say(f"| command | CPU time | / {fast_cpu}'s |")
        say("| --- | --- | --- |")
        for n in names:
            say(f"| {n} | {ms[n]:.3f} ms | {ms[n] / ms[fast_cpu]:.2f}x |")
        say()
    for n in ours:
        say(f"- {n} / fastest competitor ({fastest}): mean **{means[n] / means[fastest]:.2f}x**, "
            f"median **{meds[n] / meds[fastest]:.2f}x**")
    say()


say(f"Machine: {os.cpu_count()} cores, load average at start "
    f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}")
ONLY = os.environ.get("ONLY", "aggregate batch latency").split()
say()
if "aggregate" in ONLY:
    bench_aggregate("Aggregate, random /8../32 (the issue's input)",
                    gen("aggregate", os.path.join(WORK, "agg.txt")))
    bench_aggregate("Aggregate, random /20../32 (a harder input: many outputs)",
                    gen("aggregate", os.path.join(WORK, "agg20.txt"), "20"))
if "batch" in ONLY:
    bench_batch(gen("batch", os.path.join(WORK, "batch.txt")))
if "latency" in ONLY:
    bench_latency()
say(f"Load average at end {os.getloadavg()[0]:.2f}")
