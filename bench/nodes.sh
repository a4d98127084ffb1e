#!/usr/bin/env bash
# bench/nodes.sh - how long `mirrorset check` and `mirrorset plan` take on 3
# and on 20 loopback nodes, next to the floor: N parallel `ssh … true` (one
# login per node, OpenSSH's client).
#
# In:  bench/nodes.sh [RUNS]   (default 5 runs per figure; run as root)
# Out: a table of medians in milliseconds on stdout. Brings up its own test
#      hosts on 127.0.40.x and 127.0.41.x and takes them down at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-5}

cargo build --release --quiet
BIN=$PWD/target/release/mirrorset

now_ms() { date +%s%3N; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

time_ms() { # time_ms COMMAND... -> milliseconds of one run
  local start end
  start=$(now_ms)
  "$@" >/dev/null 2>&1
  end=$(now_ms)
  echo $((end - start))
}

ssh_floor() { # ssh_floor DIR COUNT: one login per node, all at once
  local dir=$1 count=$2 pids=() i
  for ((i = 1; i <= count; i++)); do
    ssh -i "$dir/client/id_ed25519" -o UserKnownHostsFile="$dir/client/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes "postgres@127.0.$3.$i" true &
    pids+=($!)
  done
  wait "${pids[@]}"
}

export MIRRORSET_TEST_PASSPHRASE=bench-passphrase
printf '%-6s %-24s %-22s %-22s %s\n' nodes "parallel ssh true (ms)" "check (ms)" "plan (ms)" "plan / floor"
for spec in "40 3" "41 20"; do
  read -r net count <<<"$spec"
  dir=/tmp/mirrorset-bench/net$net
  bash tests/hosts/down.sh --dir "$dir" --purge >/dev/null 2>&1 || true
  bash tests/hosts/up.sh --net "$net" --count "$count" --dir "$dir" >/dev/null
  bash tests/hosts/cluster-toml.sh --dir "$dir" --name "bench$net" >"$dir/cluster.toml"
  "$BIN" check "$dir/cluster.toml" >/dev/null # warm caches; must pass
  floor=$(for ((r = 0; r < RUNS; r++)); do time_ms ssh_floor "$dir" "$count" "$net"; done | median)
  check=$(for ((r = 0; r < RUNS; r++)); do time_ms "$BIN" check "$dir/cluster.toml"; done | median)
  plan=$(for ((r = 0; r < RUNS; r++)); do time_ms "$BIN" plan "$dir/cluster.toml"; done | median)
  ratio=$(awk -v a="$plan" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')
  printf '%-6s %-24s %-22s %-22s %s\n' "$count" "$floor" "$check" "$plan" "$ratio"
  bash tests/hosts/down.sh --dir "$dir" --purge >/dev/null 2>&1 || true
done
