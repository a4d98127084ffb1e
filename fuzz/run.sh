#!/usr/bin/env bash
# fuzz/run.sh - runs mirrorset's fuzz targets (parsers and renderers, see
# fuzz/fuzz_targets) for a while each, starting from the committed seeds.
#
# In:  fuzz/run.sh SECONDS [TARGET...]   (SECONDS per target; all targets
#      when none is named). Needs the Rust toolchain and a C++ compiler.
# Out: installs cargo-fuzz 0.13.2 when missing, builds the targets on stable
#      Rust (no sanitizer: the code under test is safe Rust; panics, debug
#      assertions and overflow checks are the crashes), runs each on one
#      core and prints one line per target and a closing
#      "fuzz: N passed, N failed". New inputs go to
#      fuzz/target/corpus/TARGET (kept between runs, not committed), a
#      crashing input to fuzz/artifacts/TARGET. Exits non-zero at the first
#      target that crashes, after printing how to replay it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "fuzz/run.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --quiet
fi

mkdir -p target/logs
# Fails when Cargo.lock would have to change, as `--locked` does.
cargo metadata --locked --format-version 1 >/dev/null 2>target/logs/metadata.log ||
  { cat target/logs/metadata.log >&2; exit 1; }
flags=(--sanitizer none --codegen-units 16)
cargo fuzz build "${flags[@]}" >target/logs/build.log 2>&1 ||
  { tail -n 40 target/logs/build.log >&2; exit 1; }

targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
passed=0
for target in "${targets[@]}"; do
  mkdir -p "target/corpus/$target" "artifacts/$target"
  log=target/logs/$target.log
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1)
  # Words the real parsers give a meaning to, which coverage alone finds late.
  [[ -f dict/$target.dict ]] && options+=(-dict="dict/$target.dict")
  if cargo fuzz run "${flags[@]}" "$target" "target/corpus/$target" "corpus/$target" -- \
    "${options[@]}" >"$log" 2>&1 </dev/null; then
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
    echo "fuzz/run.sh: $target: $runs runs in ${seconds}s, ${cov:-cov: ?}, 0 crashes"
  else
    tail -n 40 "$log" >&2
    echo "fuzz/run.sh: $target CRASHED; replay with: (cd fuzz && cargo fuzz run ${flags[*]} $target artifacts/$target/<file>)" >&2
    echo "fuzz: $passed passed, 1 failed"
    exit 1
  fi
  passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
