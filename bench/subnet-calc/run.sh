#!/usr/bin/env bash
# Side-by-side benchmarks for subnet-calc (issue 6); not run in CI.
#
#   bench/subnet-calc/run.sh            # 1,000,000 lines
#   N=100000 bench/subnet-calc/run.sh   # quicker
#   ONLY=latency bench/subnet-calc/run.sh  # some of: aggregate batch latency
#
# Installs what it compares with (Debian: sipcalc, ipcalc-ng, ipcalc,
# hyperfine; python3 must be present), builds release binaries, and prints
# a Markdown report for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-1000000}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"

missing=()
for p in sipcalc ipcalc-ng ipcalc hyperfine; do
    command -v "$p" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]} (apt-get install them)" >&2
        exit 1
    fi
fi

cargo build --release -q -p subnet-calc --bins --example aggregate_vs_ipnet
target_dir=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# The same program linked statically (`cargo subnet-calc-static`, an alias
# in .cargo/config.toml), for the latency comparison: even with libgcc's
# unwinder linked in (build.rs), a dynamically linked Rust binary spends
# longer in the loader than a small C program spends in its whole run.
cargo -q subnet-calc-static
python3 bench/subnet-calc/bench.py \
    "$target_dir/release/subnet-calc" \
    "$target_dir/release/examples/aggregate_vs_ipnet" \
    "$WORK" "$N" \
    "$target_dir/static/subnet-calc"
