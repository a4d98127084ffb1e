#!/usr/bin/env bash
# selftest.sh - check that up.sh / ctl.sh / down.sh work on this machine.
#
# In:  selftest.sh [--net NET] [--count N]   (defaults 19 and 3; N >= 3). Root.
# Out: brings hosts up in /tmp/mirrorset-hosts/netNET, checks ssh logins,
#      the source-address shim, a manual streaming replication 1 -> 2
#      (pg_stat_replication.client_addr = 127.0.NET.2), every ctl.sh action,
#      idempotent up/down, then purges. Prints "N passed, 0 failed" and exits
#      0, or stops at the first failed check with exit 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NET=19
COUNT=3
while (($#)); do
    case $1 in
    --net) NET=${2:?}; shift 2 ;;
    --count) COUNT=${2:?}; shift 2 ;;
    *) echo "usage: selftest.sh [--net NET] [--count N]" >&2; exit 2 ;;
    esac
done
((COUNT >= 3)) || { echo "selftest needs --count >= 3" >&2; exit 2; }
DIR=/tmp/mirrorset-hosts/net$NET
passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "FAILED: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
cleanup() { "$HERE/down.sh" --dir "$DIR" --purge >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$HERE/down.sh" --dir "$DIR" --purge >/dev/null
"$HERE/up.sh" --net "$NET" --count "$COUNT" >/dev/null || fail "up.sh"
ok "up.sh --net $NET --count $COUNT"
"$HERE/up.sh" --net "$NET" --count "$COUNT" --check >/dev/null || fail "second up.sh"
ok "second up.sh (idempotent, --check)"
# shellcheck source=/dev/null
. "$DIR/hosts.env"
A1=$HOST_1_ADDR
A2=$HOST_2_ADDR
S=(ssh -i "$CLIENT_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5)
n_sshd=$(ss -Htln | grep -c "127\.0\.$NET\.[0-9]*:22 ") || true
((n_sshd == COUNT)) || fail "expected $COUNT sshd listeners, saw $n_sshd"
ok "exactly $COUNT sshd listeners after two up runs"

for ((i = 1; i <= COUNT; i++)); do
    a="127.0.$NET.$i"
    # shellcheck disable=SC2016 # expands on the remote side
    out=$("${S[@]}" "postgres@$a" 'echo $MIRRORSET_BIND_ADDR; whoami' </dev/null) || fail "ssh postgres@$a"
    [[ $out == "$a"$'\n'postgres ]] || fail "ssh postgres@$a said: $out"
done
ok "ssh as postgres with known_hosts + StrictHostKeyChecking on all hosts"
[[ $("${S[@]}" "root@$A1" whoami </dev/null) == root ]] || fail "ssh root@$A1"
ok "ssh as root"

[[ $(cd / && runuser -u postgres -- psql -h "$HOST_1_SOCKET_DIR" -XAtc 'select 1') == 1 ]] || fail "psql socket host 1"
ok "psql over host 1's unix socket"

out=$("${S[@]}" "postgres@$A2" "psql 'host=$A1 dbname=postgres user=nobody' -c 'select 1' 2>&1" </dev/null) && fail "nobody got in"
[[ $out == *"no pg_hba.conf entry for host \"$A2\""* ]] || fail "pg_hba error does not name $A2: $out"
ok "shim: connection from host 2 comes from $A2"

P1=(runuser -u postgres -- psql -h "$HOST_1_SOCKET_DIR" -XAtq)
(cd / && "${P1[@]}" -c "create role repl with replication login password 'replpw'") || fail "create role"
echo "host replication repl $A2/32 scram-sha-256" >>"$HOST_1_CONFIG_DIR/pg_hba.conf"
(cd / && "${P1[@]}" -c 'select pg_reload_conf()' >/dev/null) || fail "reload"
"${S[@]}" "postgres@$A2" "umask 077; echo '$A1:5432:replication:repl:replpw' >$DIR/node2/replpass &&
    pg_basebackup -h $A1 -U repl -D $HOST_2_DATA_DIR -X stream -R -d 'passfile=$DIR/node2/replpass' &&
    pg_ctl -D $HOST_2_CONFIG_DIR -l $HOST_2_LOG -w start >/dev/null" </dev/null || fail "basebackup/start on host 2"
for ((n = 0; n < 100; n++)); do
    addr=$(cd / && "${P1[@]}" -c "select client_addr from pg_stat_replication where state = 'streaming'")
    [[ -n $addr ]] && break
    sleep 0.1
done
[[ $addr == "$A2" ]] || fail "pg_stat_replication.client_addr is '$addr', not $A2"
ok "streaming replication host1 -> host2, client_addr $addr"

"$HERE/ctl.sh" --dir "$DIR" stop-sshd 3 >/dev/null || fail "stop-sshd"
"${S[@]}" "postgres@127.0.$NET.3" true </dev/null 2>/dev/null && fail "ssh works after stop-sshd"
"$HERE/ctl.sh" --dir "$DIR" stop-sshd 3 >/dev/null || fail "stop-sshd twice"
"$HERE/ctl.sh" --dir "$DIR" start-sshd 3 >/dev/null || fail "start-sshd"
"${S[@]}" "postgres@127.0.$NET.3" true </dev/null || fail "ssh after start-sshd"
ok "ctl stop-sshd / start-sshd"
"$HERE/ctl.sh" --dir "$DIR" rekey 3 >/dev/null || fail "rekey"
out=$("${S[@]}" "postgres@127.0.$NET.3" true </dev/null 2>&1) && fail "ssh works after rekey"
[[ $out == *"REMOTE HOST IDENTIFICATION HAS CHANGED"* ]] || fail "rekey: unexpected ssh error: $out"
"$HERE/ctl.sh" --dir "$DIR" trust 3 >/dev/null || fail "trust"
"${S[@]}" "postgres@127.0.$NET.3" true </dev/null || fail "ssh after trust"
ok "ctl rekey (host key changed) / trust"
"$HERE/ctl.sh" --dir "$DIR" stop-pg 2 >/dev/null || fail "stop-pg"
[[ $("$HERE/ctl.sh" --dir "$DIR" status 2) == *"postgres down" ]] || fail "status after stop-pg"
"$HERE/ctl.sh" --dir "$DIR" stop-pg 2 >/dev/null || fail "stop-pg twice"
"$HERE/ctl.sh" --dir "$DIR" start-pg 2 >/dev/null || fail "start-pg"
"$HERE/ctl.sh" --dir "$DIR" crash-pg 1 >/dev/null || fail "crash-pg"
"$HERE/ctl.sh" --dir "$DIR" start-pg 1 >/dev/null || fail "start-pg 1"
"$HERE/ctl.sh" --dir "$DIR" start-pg 1 >/dev/null || fail "start-pg 1 twice"
ok "ctl stop-pg / crash-pg / start-pg"

pids=$(for ((i = 1; i <= COUNT; i++)); do cat "$DIR/node$i/ssh/sshd.pid"; done; head -n1 -q "$DIR"/node*/data/postmaster.pid)
"$HERE/down.sh" --dir "$DIR" >/dev/null || fail "down.sh"
"$HERE/down.sh" --dir "$DIR" >/dev/null || fail "second down.sh"
for p in $pids; do
    if [[ -e /proc/$p ]] && ! grep -q '^[^)]*) Z' "/proc/$p/stat" 2>/dev/null; then fail "pid $p still alive after down"; fi
done
ok "down.sh twice stops every sshd and both postmasters (host 2's started over ssh)"
"$HERE/up.sh" --net "$NET" --count "$COUNT" >/dev/null || fail "up.sh after down"
"$HERE/down.sh" --dir "$DIR" --purge >/dev/null || fail "down.sh --purge"
[[ ! -e $DIR ]] || fail "$DIR still exists after --purge"
ok "up after down, down --purge"
trap - EXIT
echo "$passed passed, 0 failed"
