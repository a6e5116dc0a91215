#!/usr/bin/env bash
# Fan-out benchmark (issue 4): `uname -a` on 50 local servers with
# `client --hosts`, against `pdsh -R ssh` over 50 connections to a local
# sshd, side by side in one run. Not run in CI.
#
#   bash bench/client/fanout.sh            # RUNS=10 rounds by default
#   RUNS=20 HOSTS=50 bash bench/client/fanout.sh
#
# Installs what it compares with (openssh-server, openssh-client, pdsh) via
# apt when missing and running as root. The sshd it starts is private: its
# own config, host key and client key in a temp dir, listening on 127.0.0.1
# only, stopped at exit. pdsh reaches it through 50 distinct host aliases
# (h1..h50 → 127.0.0.1) so it opens 50 separate ssh connections. The ssh
# side logs in as a system user `rcmdbench` (created if missing) whose shell
# is /bin/sh, so both sides run `/bin/sh -c 'uname -a'` and no login rc file
# (root's .bashrc) is timed on the ssh side.
set -euo pipefail

RUNS=${RUNS:-10}
HOSTS=${HOSTS:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
if ! need pdsh || ! need /usr/sbin/sshd || ! need ssh; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            openssh-server openssh-client pdsh >/dev/null
    else
        echo "need pdsh, sshd and ssh (apt-get install openssh-server openssh-client pdsh)" >&2
        exit 1
    fi
fi

if [ -z "${CLIENT:-}" ] || [ -z "${SERVER:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p client -p server)
    CLIENT=${CLIENT:-$ROOT/target/release/client}
    SERVER=${SERVER:-$ROOT/target/release/server}
fi

# --- 50 servers on 127.0.0.1:0; the address each prints when ready.
ADDRS=()
for i in $(seq 1 "$HOSTS"); do
    "$SERVER" --listen 127.0.0.1:0 2>"$WORK/server$i.log" &
    PIDS+=($!)
done
for i in $(seq 1 "$HOSTS"); do
    for _ in $(seq 1 500); do
        grep -q '^listening on ' "$WORK/server$i.log" && break
        sleep 0.01
    done
    ADDRS+=("$(sed -n 's/^listening on //p' "$WORK/server$i.log" | head -1)")
done
LIST=$(IFS=,; echo "${ADDRS[*]}")

# --- a private sshd on a free loopback port, key auth only.
mkdir -p /run/sshd
BENCH_USER=rcmdbench
id "$BENCH_USER" >/dev/null 2>&1 ||
    useradd --system --create-home --home-dir /var/lib/rcmdbench --shell /bin/sh "$BENCH_USER"
usermod -p '*' "$BENCH_USER" # key login only, but not a locked account
chmod 755 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authorized_keys"
chmod 644 "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<CONF
ListenAddress 127.0.0.1:$PORT
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers $BENCH_USER
MaxStartups 200
MaxSessions 200
PidFile $WORK/sshd.pid
CONF
/usr/sbin/sshd -f "$WORK/sshd_config" -D -e 2>"$WORK/sshd.log" &
PIDS+=($!)
{
    echo "Host h*"
    echo "  HostName 127.0.0.1"
    echo "  Port $PORT"
    echo "  User $BENCH_USER"
    echo "  IdentityFile $WORK/id"
    echo "  IdentitiesOnly yes"
    echo "  StrictHostKeyChecking no"
    echo "  UserKnownHostsFile /dev/null"
    echo "  LogLevel ERROR"
} >"$WORK/ssh_config"
export PDSH_SSH_ARGS="-F $WORK/ssh_config %h"
export PDSH_RCMD_TYPE=ssh
ssh_ready=no
for _ in $(seq 1 100); do
    ssh -F "$WORK/ssh_config" h1 true 2>/dev/null && { ssh_ready=yes; break; }
    sleep 0.05
done
[ "$ssh_ready" = yes ] || { echo "the private sshd never let us in:" >&2; tail -5 "$WORK/sshd.log" >&2; exit 1; }

# --- correctness first: every host answers once, on both sides.
n_client=$("$CLIENT" --fanout "$HOSTS" --hosts "$LIST" -- uname -a | wc -l)
n_pdsh=$(pdsh -R ssh -f "$HOSTS" -w "h[1-$HOSTS]" uname -a | wc -l)
echo "lines: client $n_client, pdsh $n_pdsh (expected $HOSTS each)"
[ "$n_client" = "$HOSTS" ] && [ "$n_pdsh" = "$HOSTS" ]

now() { date +%s%N; }
declare -a T_CLIENT T_CLIENT32 T_PDSH
for r in $(seq 1 "$RUNS"); do
    t0=$(now); "$CLIENT" --fanout "$HOSTS" --hosts "$LIST" -- uname -a >/dev/null; t1=$(now)
    T_CLIENT+=($(( (t1 - t0) / 1000 )))
    t0=$(now); "$CLIENT" --hosts "$LIST" -- uname -a >/dev/null; t1=$(now)
    T_CLIENT32+=($(( (t1 - t0) / 1000 )))
    t0=$(now); pdsh -R ssh -f "$HOSTS" -w "h[1-$HOSTS]" uname -a >/dev/null; t1=$(now)
    T_PDSH+=($(( (t1 - t0) / 1000 )))
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mc=$(median "${T_CLIENT[@]}")
mc32=$(median "${T_CLIENT32[@]}")
mp=$(median "${T_PDSH[@]}")
echo
echo "median wall time over $RUNS rounds, $HOSTS hosts, \`uname -a\`:"
awk -v c="$mc" -v c32="$mc32" -v p="$mp" -v n="$HOSTS" 'BEGIN {
    printf "  %-44s %10.1f ms\n", "client --fanout " n " --hosts ...", c / 1000
    printf "  %-44s %10.1f ms\n", "client --hosts ... (default --fanout 32)", c32 / 1000
    printf "  %-44s %10.1f ms\n", "pdsh -R ssh -f " n " -w h[1-" n "]", p / 1000
    printf "  ratio pdsh / client (fanout %d): %.1fx\n", n, p / c
    printf "  ratio pdsh / client (fanout 32): %.1fx\n", p / c32
}'
echo "  $(uname -sr), $(nproc) cores; $(ssh -V 2>&1); $(pdsh -V 2>&1 | head -1)"
