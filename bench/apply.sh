#!/usr/bin/env bash
# bench/apply.sh - how long `mirrorset apply` takes to bootstrap a primary and
# two empty mirrors on loopback hosts, and how much of it is pg_basebackup.
#
# In:  bench/apply.sh [RUNS]   (default 3; run as root)
# Out: one line per run (total and clone seconds) and the medians. Brings up
#      its own hosts on 127.0.42.x for each run and takes them down.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-3}
cargo build --release --quiet
BIN=$PWD/target/release/mirrorset
DIR=/tmp/mirrorset-bench/net42
export MIRRORSET_TEST_PASSPHRASE=bench-passphrase

totals=() clones=()
for ((r = 1; r <= RUNS; r++)); do
  bash tests/hosts/down.sh --dir "$DIR" --purge >/dev/null 2>&1 || true
  bash tests/hosts/up.sh --net 42 --count 3 --dir "$DIR" >/dev/null
  bash tests/hosts/cluster-toml.sh --dir "$DIR" --name bench42 >"$DIR/cluster.toml"
  start=$(date +%s%3N)
  output=$("$BIN" apply "$DIR/cluster.toml" --auto-approve)
  total=$(($(date +%s%3N) - start))
  # The clones run in parallel: the longest is the time spent cloning.
  clone=$(printf '%s\n' "$output" | awk '/: clone /{c[$1]=1} /done in/{ if (c[$1]) { sub(/s.*/, "", $5); if ($5 > max) max = $5; delete c[$1] } } END {print max * 1000}')
  printf 'run %d: apply %d ms, of which cloning %d ms\n' "$r" "$total" "$clone"
  totals+=("$total") clones+=("$clone")
  bash tests/hosts/down.sh --dir "$DIR" --purge >/dev/null 2>&1 || true
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t=$(median "${totals[@]}") c=$(median "${clones[@]}")
printf 'median: apply %d ms, cloning %d ms (%d%%)\n' "$t" "$c" $((100 * c / t))
