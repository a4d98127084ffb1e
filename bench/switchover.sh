#!/usr/bin/env bash
# bench/switchover.sh - how long a switchover refuses writes: a client keeps
# inserting into whichever host is writable (target_session_attrs=read-write)
# while `mirrorset apply` moves the primary; the gap is the time between the
# last insert the old primary acknowledged and the first the new one did.
#
# In:  bench/switchover.sh   (run as root; uses hosts on 127.0.44.x)
# Out: the gap of each of 5 switchovers (back and forth) and their median.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --release --quiet --test integration -- --ignored --exact \
  topology::switchover_write_gap_median_of_5 --nocapture 2>&1 |
  grep -E '^(run [0-9]|median|  apply:)'
