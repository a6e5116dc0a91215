"""Runs the udp-echo benchmarks; see run.sh. Every server listens on
127.0.0.1 (port 0 where the program allows it) and is restarted as needed;
each round measures every contender once, interleaved, and the table gives
the median over rounds and its ratio to ours."""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROUNDS = int(sys.argv[1])
SECONDS = float(sys.argv[2])
TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
UDP_ECHO = os.path.join(TARGET, "release", "udp-echo")
MINIMAL = os.path.join(TARGET, "release", "examples", "minimal_echo")
HAVE_SOCAT = shutil.which("socat") is not None
HAVE_SOCKPERF = shutil.which("sockperf") is not None
# Pin the client and the server to CPUs: on this VM the scheduler otherwise
# flips between running both on one CPU (~11 us loopback RTT) and on two
# (~50 us: a cross-CPU wake-up costs an IPI), and the figures with it.
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
CLIENT_CPU = "0"


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv if PIN else argv


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Server:
    """A server process whose address is read from its stderr."""

    def __init__(self, argv, pattern, cpu):
        self.proc = subprocess.Popen(pinned(cpu, argv), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        for line in self.proc.stderr:
            m = re.search(pattern, line)
            if m:
                self.addr = m.group(1)
                break
            if time.time() > deadline:
                break
        else:
            raise RuntimeError(f"{argv[0]} printed no address")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def ours(cpu):
    return Server([UDP_ECHO, "serve", "--listen", "127.0.0.1:0",
                   "--rate-limit", "0"], r"^listening on (\S+)", cpu)


def minimal(cpu):
    return Server([MINIMAL, "127.0.0.1:0"], r"^listening on (\S+)", cpu)


def socat(cpu):
    # One peer per process (UDP-LISTEN locks onto its first client).
    return Server(["socat", "-d", "-d", "UDP-LISTEN:0,bind=127.0.0.1", "PIPE"],
                  r"listening on UDP AF=2 (\S+)", cpu)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SockperfServer:
    def __init__(self, cpu):
        self.port = free_port()
        self.proc = subprocess.Popen(
            pinned(cpu, ["sockperf", "sr", "-i", "127.0.0.1", "-p", str(self.port)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # sockperf sr prints no readiness line we can trust

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def flood(addr, size):
    out = subprocess.run(pinned(CLIENT_CPU, [UDP_ECHO, "flood", addr, "--rate", "max",
                                             "--size", str(size), "--duration",
                                             str(SECONDS), "--json"]),
                         capture_output=True, text=True, timeout=SECONDS + 30)
    return json.loads(out.stdout)["echoed_pps"]


def ping(addr, count):
    out = subprocess.run(pinned(CLIENT_CPU, [UDP_ECHO, "ping", addr, "--interval", "0",
                                             "--count", str(count), "--size", "64",
                                             "--json"]),
                         capture_output=True, text=True, timeout=120)
    r = json.loads(out.stdout)["rtt_us"]
    return r["p50"], r["p99"]


def sockperf_capacity(port, size):
    out = subprocess.run(pinned(CLIENT_CPU, ["sockperf", "ul", "-i", "127.0.0.1", "-p",
                                             str(port), "-m", str(size), "-t",
                                             str(int(SECONDS)), "--mps", "max",
                                             "--reply-every", "1"]),
                         capture_output=True, text=True, timeout=SECONDS + 30)
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=\d+; "
                  r"ReceivedMessages=(\d+)", out.stdout + out.stderr)
    return int(m.group(2)) / float(m.group(1))


def sockperf_rtt(port):
    out = subprocess.run(pinned(CLIENT_CPU, ["sockperf", "pp", "-i", "127.0.0.1", "-p",
                                             str(port), "-m", "64", "-t",
                                             str(int(SECONDS)), "--full-rtt"]),
                         capture_output=True, text=True, timeout=SECONDS + 30)
    text = out.stdout + out.stderr
    p50 = float(re.search(r"percentile 50\.000 =\s*([\d.]+)", text).group(1))
    p99 = float(re.search(r"percentile 99\.000 =\s*([\d.]+)", text).group(1))
    return p50, p99


# RTT regimes: (label, server CPU, probes per ping run ~ SECONDS long).
REGIMES = [("same CPU", CLIENT_CPU, int(SECONDS * 80000)),
           ("two CPUs", "1", int(SECONDS * 20000))]


def main():
    load_before = os.getloadavg()[0]
    cap = {}   # (contender, size) -> [pps]
    rtt = {}   # (regime, contender) -> [(p50, p99)]
    for rnd in range(ROUNDS):
        for size in (64, 1472):
            for name, start in (("udp-echo serve", ours), ("minimal loop", minimal),
                                ("socat PIPE", socat if HAVE_SOCAT else None)):
                if start is None:
                    continue
                s = start("1")
                try:
                    v = flood(s.addr, size)
                finally:
                    s.stop()
                cap.setdefault((name, size), []).append(v)
                log(f"round {rnd} capacity {size} B {name}: {v:.0f} echoed/s")
            if HAVE_SOCKPERF:
                sp = SockperfServer("1")
                try:
                    v = sockperf_capacity(sp.port, size)
                finally:
                    sp.stop()
                cap.setdefault(("sockperf ul -> sr", size), []).append(v)
                log(f"round {rnd} capacity {size} B sockperf: {v:.0f} echoed/s")
        for regime, cpu, count in (REGIMES if PIN else REGIMES[:1]):
            for name, start in (("udp-echo ping -> udp-echo serve", ours),
                                ("udp-echo ping -> minimal loop", minimal),
                                ("udp-echo ping -> socat PIPE",
                                 socat if HAVE_SOCAT else None)):
                if start is None:
                    continue
                s = start(cpu)
                try:
                    v = ping(s.addr, count)
                finally:
                    s.stop()
                rtt.setdefault((regime, name), []).append(v)
                log(f"round {rnd} rtt {regime} {name}: p50 {v[0]:.2f} p99 {v[1]:.2f} us")
            if HAVE_SOCKPERF:
                sp = SockperfServer(cpu)
                try:
                    v = sockperf_rtt(sp.port)
                finally:
                    sp.stop()
                rtt.setdefault((regime, "sockperf pp --full-rtt -> sockperf sr"),
                               []).append(v)
                log(f"round {rnd} rtt {regime} sockperf: p50 {v[0]:.2f} p99 {v[1]:.2f} us")

    med = statistics.median
    print(f"Load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}"
          f" on {os.cpu_count()} CPUs.\n")
    print(f"Echo capacity, `udp-echo flood --rate max --duration {SECONDS:g}`"
          f" (sockperf: its own client), median of {ROUNDS} rounds"
          + (f"; client on CPU {CLIENT_CPU}, server on CPU 1:\n" if PIN else ":\n"))
    print("| size | contender | echoed datagrams/s (median) | min – max | ours ÷ it |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for size in (64, 1472):
        base = med(cap[("udp-echo serve", size)])
        for (name, sz), vals in cap.items():
            if sz == size:
                print(f"| {size} B | {name} | {med(vals):,.0f} | {min(vals):,.0f} – "
                      f"{max(vals):,.0f} | {base / med(vals):.2f} |")
    if not HAVE_SOCAT:
        print("| | socat | not installed | |")
    if not HAVE_SOCKPERF:
        print("| | sockperf | not installed | |")
    print(f"\nPing-pong full round-trip time, 64 B, ~{SECONDS:g} s per run,"
          f" median of {ROUNDS} rounds"
          + (f"; client on CPU {CLIENT_CPU}, server on the same CPU or CPU 1:\n"
             if PIN else " (not pinned: taskset missing or one CPU):\n"))
    print("| CPUs | pairing | p50 µs (min – max) | p99 µs (min – max) | p50 ÷ sockperf's |"
          " p99 ÷ sockperf's |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (regime, name), vals in rtt.items():
        sp = rtt.get((regime, "sockperf pp --full-rtt -> sockperf sr"))
        p50 = med(v[0] for v in vals)
        p99 = med(v[1] for v in vals)
        if sp:
            r50 = f"{p50 / med(v[0] for v in sp):.2f}"
            r99 = f"{p99 / med(v[1] for v in sp):.2f}"
        else:
            r50 = r99 = "n/a"
        lo50, hi50 = min(v[0] for v in vals), max(v[0] for v in vals)
        lo99, hi99 = min(v[1] for v in vals), max(v[1] for v in vals)
        print(f"| {regime} | {name} | {p50:.1f} ({lo50:.1f} – {hi50:.1f}) | {p99:.1f} "
              f"({lo99:.1f} – {hi99:.1f}) | {r50} | {r99} |")


main()
