#!/usr/bin/env bash
# Server benchmarks, each side by side with its competitors in one run.
# Installs what it compares with (Debian packages), builds our binaries in
# release mode, and prints a Markdown table for docs/BENCHMARKS.md.
# Loopback only; every step is bounded. Not part of CI.
#
#   bash bench/server/run.sh            # everything
#   SIZE=536870912 bash bench/server/run.sh   # a smaller stream (bytes)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/server
SIZE=${SIZE:-2147483648}
PORT=${PORT:-18180}

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
pkgs=()
for p in bc:bc socat:socat ncat:ncat iperf3:iperf3 hyperfine:hyperfine sshd:openssh-server ssh:openssh-client; do
  command -v "${p%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${p%%:*}" ] || pkgs+=("${p#*:}")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
cargo build --release -q -p server -p client
SERVER=$PWD/target/release/server
CLIENT=$PWD/target/release/client

work=$(mktemp -d)
pids=()
cleanup() {
  ssh -F "$work/ssh_config" -O exit h1 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A private sshd on loopback, key auth only, logging in a plain /bin/sh user
# so that no login-shell start-up files (root's may run pyenv) are timed.
id rcmdbench >/dev/null 2>&1 || $SUDO useradd -m -s /bin/sh rcmdbench
$SUDO usermod -p '*' rcmdbench   # key login only, but not a locked account
chmod 755 "$work"
ssh-keygen -q -t ed25519 -N '' -f "$work/host" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/user" >/dev/null
cp "$work/user.pub" "$work/authorized_keys"; chmod 644 "$work/authorized_keys"
cat > "$work/sshd_config" <<CFG
ListenAddress 127.0.0.1:$((PORT+1))
HostKey $work/host
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin yes
PasswordAuthentication no
StrictModes no
UsePAM no
PidFile $work/sshd.pid
CFG
cat > "$work/ssh_config" <<CFG
Host h1
  HostName 127.0.0.1
  Port $((PORT+1))
  User rcmdbench
  IdentityFile $work/user
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ControlPath $work/cm-%r@%h:%p
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -f "$work/sshd_config" -D -e 2>"$work/sshd.log" & pids+=($!)

"$SERVER" --listen 127.0.0.1:$PORT --max-connections 20000 2>"$work/server.log" & spid=$!; pids+=($spid)
for _ in $(seq 100); do grep -q "listening on" "$work/server.log" && break; sleep 0.05; done
for _ in $(seq 100); do ssh -F "$work/ssh_config" h1 true 2>/dev/null && break; sleep 0.1; done

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
# iperf3's own figure (receiver side), as seconds for $SIZE bytes; its
# arguments go to the iperf3 client.
iperf_secs() {
  local bps
  bps=$(iperf3 -c 127.0.0.1 -p $((PORT+4)) -n "$SIZE" -J "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
  echo "$SIZE * 8 / $bps" | bc -l
}
# One stream is at the mercy of a noisy neighbour: $RUNS rounds, each
# running every contender once in turn (so a busy spell hits them all
# alike), and each contender's best time kept.
RUNS=${RUNS:-3}
declare -A best_t
keep() { local b=${best_t[$1]:-}; if [ -z "$b" ] || [ "$(echo "$2 < $b" | bc -l)" = 1 ]; then best_t[$1]=$2; fi; }
gibps() { echo "scale=2; $SIZE / $1 / 1073741824" | bc -l; }

echo "== 1. stream $SIZE bytes (head -c $SIZE /dev/zero) to /dev/null" >&2
socat TCP-LISTEN:$((PORT+2)),bind=127.0.0.1,reuseaddr,fork SYSTEM:"head -c $SIZE /dev/zero" & pids+=($!)
ncat -l -k 127.0.0.1 $((PORT+3)) --send-only --sh-exec "head -c $SIZE /dev/zero" & pids+=($!)
iperf3 -s -B 127.0.0.1 -p $((PORT+4)) >/dev/null 2>&1 & pids+=($!)
sleep 0.3
for round in $(seq "$RUNS"); do
  echo "   round $round of $RUNS" >&2
  keep pipe "$(secs sh -c "head -c $SIZE /dev/zero | cat")"
  keep ours "$(secs "$CLIENT" --connect 127.0.0.1:$PORT -- "head -c $SIZE /dev/zero")"
  keep ssh "$(secs ssh -F "$work/ssh_config" h1 "head -c $SIZE /dev/zero")"
  keep socat "$(secs socat -u TCP:127.0.0.1:$((PORT+2)) OPEN:/dev/null)"
  keep ncat "$(secs ncat --recv-only 127.0.0.1 $((PORT+3)))"
  keep iperf "$(iperf_secs)"
  # The same raw TCP with the producer's pipe on the path, as ours has it:
  # iperf3 sends what it reads from `head` through a pipe.
  keep iperf_pipe "$(head -c "$SIZE" /dev/zero | iperf_secs -F /dev/stdin)"
done
t_pipe=${best_t[pipe]} t_ours=${best_t[ours]} t_ssh=${best_t[ssh]} t_socat=${best_t[socat]}
t_ncat=${best_t[ncat]} t_iperf=${best_t[iperf]} t_iperf_pipe=${best_t[iperf_pipe]}

echo "== 2. one-shot 'true'" >&2
ssh -F "$work/ssh_config" -o ControlMaster=yes -o ControlPersist=120 -fN h1
hyperfine -N -w 5 -r 100 --export-json "$work/oneshot.json" \
  "sh -c true" \
  "$CLIENT --connect 127.0.0.1:$PORT -- true" \
  "ssh -F $work/ssh_config -o ControlMaster=no h1 true" >/dev/null
read -r m_sh m_ours m_ssh < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*[x["mean"] for x in r])' "$work/oneshot.json")

echo "== 3. 1000 pipelined 'true' on one connection vs a local loop" >&2
for _ in $(seq 1000); do echo true; done > "$work/1000"
hyperfine -w 1 -r 5 --export-json "$work/pipe.json" \
  "for i in \$(seq 1000); do sh -c true; done" \
  "$CLIENT --connect 127.0.0.1:$PORT < $work/1000" >/dev/null
read -r m_loop m_pipe < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*[x["mean"] for x in r])' "$work/pipe.json")

echo "== 4. 10,000 idle connections" >&2
ulimit -n 65536 || true
idle=$(python3 $here/rawclient.py idle $PORT $spid 10000)

echo "== 5. yes, client not reading for 10 s" >&2
# A fresh server: in the one above, memory freed by the earlier streams
# would sit in the allocator's free lists and hide any growth.
"$SERVER" --listen 127.0.0.1:$((PORT+5)) 2>"$work/server5.log" & spid5=$!; pids+=($spid5)
for _ in $(seq 100); do grep -q "listening on" "$work/server5.log" && break; sleep 0.05; done
slow=$(python3 $here/rawclient.py slow $((PORT+5)) $spid5 10)

r() { echo "scale=2; $1 / $2" | bc -l; }
cat <<TABLE
| # | measurement | ours | competitor(s) | ratio |
| --- | --- | --- | --- | --- |
| 1 | stream $SIZE B to /dev/null (best of $RUNS) | $(gibps "$t_ours") GiB/s | local \`head \| cat\` (the producer's own ceiling): $(gibps "$t_pipe") GiB/s; iperf3 -n: $(gibps "$t_iperf") GiB/s; iperf3 fed by \`head\` through a pipe: $(gibps "$t_iperf_pipe") GiB/s; socat SYSTEM: $(gibps "$t_socat"); ncat --sh-exec $(gibps "$t_ncat"); ssh $(gibps "$t_ssh") | $(r "$t_iperf" "$t_ours")× iperf3, $(r "$t_iperf_pipe" "$t_ours")× iperf3 through the pipe, $(r "$t_socat" "$t_ours")× socat, $(r "$t_ncat" "$t_ours")× ncat, $(r "$t_ssh" "$t_ours")× ssh |
| 2 | one-shot \`true\`, mean wall time | $(r "$m_ours*1000" 1) ms | sh -c true $(r "$m_sh*1000" 1) ms; ssh ControlMaster $(r "$m_ssh*1000" 1) ms | $(r "$m_ours" "$m_sh")× sh -c true, $(r "$m_ssh" "$m_ours")× faster than ssh |
| 3 | 1000 pipelined \`true\`, one connection | $(r "$m_pipe" 1) s | local loop of sh -c true $(r "$m_loop" 1) s | $(r "$m_loop" "$m_pipe")× the local rate |
| 4 | 10,000 idle connections | $idle | – | – |
| 5 | \`yes\`, client not reading 10 s (fresh server) | $slow | – | – |
TABLE
