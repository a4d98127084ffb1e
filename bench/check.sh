#!/usr/bin/env bash
# bench/check.sh - how long `mirrorset check` takes on 3 and on 20 loopback
# nodes, next to the floor: N parallel `ssh … true` (one login per node).
#
# In:  bench/check.sh [RUNS]   (default 5 runs per figure; run as root)
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

printf '%-6s %-28s %-28s %s\n' nodes "parallel ssh true (ms)" "mirrorset check (ms)" ratio
for spec in "40 3" "41 20"; do
  read -r net count <<<"$spec"
  dir=/tmp/mirrorset-bench/net$net
  bash tests/hosts/down.sh --dir "$dir" --purge >/dev/null 2>&1 || true
  bash tests/hosts/up.sh --net "$net" --count "$count" --dir "$dir" >/dev/null
  bash tests/hosts/cluster-toml.sh --dir "$dir" --name "bench$net" >"$dir/cluster.toml"
  "$BIN" check "$dir/cluster.toml" >/dev/null # warm caches; must pass
  floor=$(for ((r = 0; r < RUNS; r++)); do time_ms ssh_floor "$dir" "$count" "$net"; done | median)
  check=$(for ((r = 0; r < RUNS; r++)); do time_ms "$BIN" check "$dir/cluster.toml"; done | median)
  ratio=$(awk -v a="$check" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')
  printf '%-6s %-28s %-28s %s\n' "$count" "$floor" "$check" "$ratio"
  bash tests/hosts/down.sh --dir "$dir" --purge >/dev/null 2>&1 || true
done
