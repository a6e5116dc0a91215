#!/usr/bin/env bash
# udp-echo benchmarks, side by side in one run (not run in CI):
#   1. echo capacity at 64 B and 1472 B: `udp-echo flood --rate max` against
#      our server, a minimal recv_from/send_to loop and socat's PIPE echo;
#      sockperf's own pairing (`sockperf ul --reply-every 1` -> `sockperf sr`)
#      because sockperf only talks to itself.
#   2. ping-pong RTT p50/p99: `udp-echo ping --interval 0` -> our server (and the
#      minimal loop and socat)
#      against `sockperf ping-pong --full-rtt` -> `sockperf sr`.
# Usage: bench/udp-echo/run.sh [ROUNDS] [SECONDS]   (defaults 5 and 3)
# Client pinned to CPU 0, servers to CPU 1 (capacity; RTT "two CPUs") or CPU 0
# (RTT "same CPU") with taskset. Prints Markdown tables of medians and ratios;
# raw figures per round go to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v socat >/dev/null || need+=(socat)
command -v sockperf >/dev/null || need+=(sockperf)
if ((${#need[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends "${need[@]}" >&2 ||
            echo "could not install ${need[*]}: those rows will say so" >&2
    else
        echo "missing ${need[*]} (run as root with apt to install): those rows will say so" >&2
    fi
fi

cargo build --release -q -p udp-echo --bins --examples
exec python3 bench/udp-echo/bench.py "${1:-5}" "${2:-3}"
