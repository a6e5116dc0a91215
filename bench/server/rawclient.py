"""Tiny raw-protocol helpers for the server benchmarks (docs/PROTOCOL.md)."""
import socket
import struct
import sys
import time


def frame(kind, payload=b""):
    return struct.pack(">IB", len(payload), kind) + payload


HELLO = frame(0x01, b"RCMD\x00\x01")


def exec_frame(command):
    return frame(0x10, b"\x00\x00\x00" + command.encode())


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def recv_frame(s):
    n, kind = struct.unpack(">IB", recv_exact(s, 5))
    return kind, recv_exact(s, n)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def idle(port, pid, count):
    """Hold `count` idle connections (handshake done); print RSS before/after."""
    before = rss_kib(pid)
    conns = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(HELLO)
        conns.append(s)
    for s in conns:
        kind, _ = recv_frame(s)
        assert kind == 0x04, kind
    time.sleep(1)
    after = rss_kib(pid)
    print(f"idle_connections={count} rss_before_kib={before} rss_after_kib={after}")
    for s in conns:
        s.close()


def slow_reader(port, pid, pause):
    """Run `yes`, read a little, stop reading for `pause` s; print RSS growth."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(HELLO)
    recv_frame(s)
    before = rss_kib(pid)
    s.sendall(exec_frame("yes"))
    recv_frame(s)
    peak = before
    end = time.time() + pause
    while time.time() < end:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.1)
    print(f"slow_reader_pause_s={pause} rss_before_kib={before} rss_peak_kib={peak} growth_kib={peak - before}")
    s.close()


if __name__ == "__main__":
    mode, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    {"idle": idle, "slow": slow_reader}[mode](port, pid, n)
