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
# About as long as sockperf runs (~12 us per probe on loopback).
PING_COUNT = int(SECONDS * 80000)
TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
UDP_ECHO = os.path.join(TARGET, "release", "udp-echo")
MINIMAL = os.path.join(TARGET, "release", "examples", "minimal_echo")
HAVE_SOCAT = shutil.which("socat") is not None
HAVE_SOCKPERF = shutil.which("sockperf") is not None


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Server:
    """A server process whose address is read from its stderr."""

    def __init__(self, argv, pattern):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
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


def ours():
    return Server([UDP_ECHO, "serve", "--listen", "127.0.0.1:0",
                   "--rate-limit", "0"], r"^listening on (\S+)")


def minimal():
    return Server([MINIMAL, "127.0.0.1:0"], r"^listening on (\S+)")


def socat():
    # One peer per process (UDP-LISTEN locks onto its first client).
    return Server(["socat", "-d", "-d", "UDP-LISTEN:0,bind=127.0.0.1", "PIPE"],
                  r"listening on UDP AF=2 (\S+)")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SockperfServer:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["sockperf", "sr", "-i", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # sockperf sr prints no readiness line we can trust

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def flood(addr, size):
    out = subprocess.run([UDP_ECHO, "flood", addr, "--rate", "max", "--size",
                          str(size), "--duration", str(SECONDS), "--json"],
                         capture_output=True, text=True, timeout=SECONDS + 30)
    return json.loads(out.stdout)["echoed_pps"]


def ping(addr):
    out = subprocess.run([UDP_ECHO, "ping", addr, "--interval", "0", "--count",
                          str(PING_COUNT), "--size", "64", "--json"],
                         capture_output=True, text=True, timeout=120)
    r = json.loads(out.stdout)["rtt_us"]
    return r["p50"], r["p99"]


def sockperf_capacity(port, size):
    out = subprocess.run(["sockperf", "ul", "-i", "127.0.0.1", "-p", str(port),
                          "-m", str(size), "-t", str(int(SECONDS)), "--mps", "max",
                          "--reply-every", "1"],
                         capture_output=True, text=True, timeout=SECONDS + 30)
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=\d+; "
                  r"ReceivedMessages=(\d+)", out.stdout + out.stderr)
    return int(m.group(2)) / float(m.group(1))


def sockperf_rtt(port):
    out = subprocess.run(["sockperf", "pp", "-i", "127.0.0.1", "-p", str(port),
                          "-m", "64", "-t", str(int(SECONDS)), "--full-rtt"],
                         capture_output=True, text=True, timeout=SECONDS + 30)
    text = out.stdout + out.stderr
    p50 = float(re.search(r"percentile 50\.000 =\s*([\d.]+)", text).group(1))
    p99 = float(re.search(r"percentile 99\.000 =\s*([\d.]+)", text).group(1))
    return p50, p99


def main():
    cap = {}   # (contender, size) -> [pps]
    rtt = {}   # contender -> [(p50, p99)]
    for rnd in range(ROUNDS):
        for size in (64, 1472):
            for name, start in (("udp-echo serve", ours), ("minimal loop", minimal),
                                ("socat PIPE", socat if HAVE_SOCAT else None)):
                if start is None:
                    continue
                s = start()
                try:
                    v = flood(s.addr, size)
                finally:
                    s.stop()
                cap.setdefault((name, size), []).append(v)
                log(f"round {rnd} capacity {size} B {name}: {v:.0f} echoed/s")
            if HAVE_SOCKPERF:
                sp = SockperfServer()
                try:
                    v = sockperf_capacity(sp.port, size)
                finally:
                    sp.stop()
                cap.setdefault(("sockperf ul -> sr", size), []).append(v)
                log(f"round {rnd} capacity {size} B sockperf: {v:.0f} echoed/s")
        for name, start in (("udp-echo ping -> udp-echo serve", ours),
                            ("udp-echo ping -> minimal loop", minimal),
                            ("udp-echo ping -> socat PIPE", socat if HAVE_SOCAT else None)):
            if start is None:
                continue
            s = start()
            try:
                v = ping(s.addr)
            finally:
                s.stop()
            rtt.setdefault(name, []).append(v)
            log(f"round {rnd} rtt {name}: p50 {v[0]:.2f} p99 {v[1]:.2f} us")
        if HAVE_SOCKPERF:
            sp = SockperfServer()
            try:
                v = sockperf_rtt(sp.port)
            finally:
                sp.stop()
            rtt.setdefault("sockperf pp --full-rtt -> sockperf sr", []).append(v)
            log(f"round {rnd} rtt sockperf: p50 {v[0]:.2f} p99 {v[1]:.2f} us")

    med = statistics.median
    print(f"Echo capacity, `udp-echo flood --rate max --duration {SECONDS:g}`"
          f" (sockperf: its own client), median of {ROUNDS} rounds:\n")
    print("| size | contender | echoed datagrams/s | ours ÷ it |")
    print("| ---: | --- | ---: | ---: |")
    for size in (64, 1472):
        base = med(cap[("udp-echo serve", size)])
        for (name, sz), vals in cap.items():
            if sz == size:
                print(f"| {size} B | {name} | {med(vals):,.0f} | {base / med(vals):.2f} |")
    if not HAVE_SOCAT:
        print("| | socat | not installed | |")
    if not HAVE_SOCKPERF:
        print("| | sockperf | not installed | |")
    print(f"\nPing-pong full round-trip time, 64 B ({PING_COUNT} probes per round;"
          f" sockperf {SECONDS:g} s), median of {ROUNDS} rounds:\n")
    print("| pairing | p50 µs | p99 µs | p50 ÷ sockperf's | p99 ÷ sockperf's |")
    print("| --- | ---: | ---: | ---: | ---: |")
    sp = rtt.get("sockperf pp --full-rtt -> sockperf sr")
    for name, vals in rtt.items():
        p50 = med(v[0] for v in vals)
        p99 = med(v[1] for v in vals)
        if sp:
            r50 = f"{p50 / med(v[0] for v in sp):.2f}"
            r99 = f"{p99 / med(v[1] for v in sp):.2f}"
        else:
            r50 = r99 = "n/a"
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {r50} | {r99} |")


main()
