#!/usr/bin/env bash
# ctl.sh - act on one fake host brought up by up.sh (for end-to-end tests).
#
# In:  ctl.sh [--dir DIR | --net NET] ACTION I [J]
#      DIR defaults to /tmp/mirrorset-hosts/netNET (NET default 10); I is the
#      host number (1..COUNT, host I = 127.0.NET.I). Run as root. ACTION:
#        stop-sshd  stop host I's sshd and drop its open ssh connections
#        start-sshd start it again (same config, same host key)
#        stop-pg    pg_ctl -m fast stop, as postgres (no-op if not running)
#        crash-pg   pg_ctl -m immediate stop (a crash: no shutdown checkpoint)
#        start-pg   pg_ctl -D DIR/nodeI/etc -l DIR/nodeI/postgresql.log -w start
#                   as postgres, with LD_PRELOAD shim + MIRRORSET_BIND_ADDR
#        rekey      give host I a NEW host key and restart its sshd, leaving
#                   DIR/client/known_hosts stale (a "changed host key");
#                   rekey-ed25519 (= rekey), rekey-ecdsa, rekey-rsa choose
#                   the key's type (the file keeps its name)
#        certify    sign host I's key with the test host CA DIR/client/host_ca
#                   (made on first use), principal 127.0.NET.I, and make its
#                   sshd present the certificate (HostCertificate)
#        trust      rewrite host I's line in known_hosts from its current key
#        gateway    restart host I's sshd so that the connections it forwards
#                   (a jump host's) come from 127.0.NET.I, not 127.0.0.1,
#                   and are logged (LogLevel DEBUG1)
#        behind J   (ctl.sh behind I J) host I's sshd accepts logins only
#                   from host J's address: reachable only through gateway J
#        status     print "sshd PID|down postgres PID|down" for host I
# Out: the action done (idempotent where that makes sense), exit 0; else a
#      message on stderr and exit 1.
set -euo pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"

NET=10
DIR=
ARGS=()
while (($#)); do
    case $1 in
    --net) NET=${2:?--net needs a value}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) ARGS+=("$1"); shift ;;
    esac
done
((${#ARGS[@]} == 2 || ${#ARGS[@]} == 3)) || die "usage: ctl.sh [--dir DIR | --net NET] ACTION I [J] (see --help)"
ACTION=${ARGS[0]}
I=${ARGS[1]}
J=${ARGS[2]:-}
valid_net "$NET"
DIR=${DIR:-$DEFAULT_BASE/net$NET}
DIR=${DIR%/}
valid_dir "$DIR"
need_root
[[ -f $DIR/hosts.env ]] || die "$DIR/hosts.env missing: run up.sh first"
NET=$(sed -n 's/^NET=//p' "$DIR/hosts.env")
COUNT=$(sed -n 's/^COUNT=//p' "$DIR/hosts.env")
use_pg_bin "$(sed -n 's/^PG_BIN=//p' "$DIR/hosts.env")"
int_in "$I" 1 "$COUNT" || die "host number must be 1..$COUNT, got '$I'"
I=$((10#$I))
lock_dir

case $ACTION in
stop-sshd) stop_sshd "$I" ;;
start-sshd) start_sshd "$I" ;;
stop-pg) stop_pg "$I" fast ;;
crash-pg) stop_pg "$I" immediate ;;
start-pg) start_pg "$I" ;;
rekey | rekey-ed25519 | rekey-ecdsa | rekey-rsa)
    host_vars "$I"
    type=${ACTION#rekey}
    type=${type#-}
    type=${type:-ed25519}
    tmp=$(mktemp -d "$H_SSH/rekey.XXXXXX")
    ssh-keygen -q -t "$type" -N '' -C "$H_NAME@net$NET-rekeyed" -f "$tmp/key"
    mv -f "$tmp/key.pub" "$H_SSH_KEY.pub"
    mv -f "$tmp/key" "$H_SSH_KEY"
    rmdir "$tmp"
    # A certificate of the old key would no longer load.
    rm -f "$H_SSH_KEY-cert.pub"
    sed -i '/^HostCertificate /d' "$H_SSH_CONFIG"
    stop_sshd "$I"
    start_sshd "$I"
    say "$H_NAME: new $type host key $(ssh-keygen -l -f "$H_SSH_KEY.pub" | cut -d' ' -f2); known_hosts left unchanged"
    ;;
certify)
    host_vars "$I"
    ca="$DIR/client/host_ca"
    [[ -f $ca ]] || ssh-keygen -q -t ed25519 -N '' -C "mirrorset-test-host-ca@net$NET" -f "$ca"
    ssh-keygen -q -s "$ca" -I "$H_NAME" -h -n "$H_ADDR" "$H_SSH_KEY.pub"
    grep -q '^HostCertificate ' "$H_SSH_CONFIG" ||
        sed -i "/^Match /i HostCertificate $H_SSH_KEY-cert.pub" "$H_SSH_CONFIG"
    stop_sshd "$I"
    start_sshd "$I"
    say "$H_NAME: sshd presents a certificate signed by $ca"
    ;;
trust)
    host_vars "$I"
    known_hosts_set "$H_ADDR" "$H_SSH_KEY.pub"
    say "$H_NAME: known_hosts now holds its current key"
    ;;
gateway)
    host_vars "$I"
    # DEBUG1 logs each forwarded connection (server_request_direct_tcpip).
    sed -i 's/^LogLevel .*/LogLevel DEBUG1/' "$H_SSH_CONFIG"
    stop_sshd "$I"
    (
        export LD_PRELOAD="$DIR/bindaddr.so" MIRRORSET_BIND_ADDR="$H_ADDR"
        start_sshd "$I"
    )
    say "$H_NAME: sshd forwards connections from $H_ADDR"
    ;;
behind)
    int_in "$J" 1 "$COUNT" || die "behind needs the gateway's host number 1..$COUNT, got '$J'"
    gateway_addr="127.0.$NET.$((10#$J))"
    host_vars "$I"
    sed -i "s/^AllowUsers .*/AllowUsers postgres@$gateway_addr root@$gateway_addr/" "$H_SSH_CONFIG"
    stop_sshd "$I"
    start_sshd "$I"
    say "$H_NAME: sshd accepts logins only from $gateway_addr"
    ;;
status)
    host_vars "$I"
    s=down p=down
    s=$(sshd_pid "$H_SSH_PID" "$H_SSH_CONFIG") || s=down
    p=$(pg_pid "$H_DATA") || p=down
    echo "sshd $s postgres $p"
    ;;
*) die "unknown action '$ACTION' (stop-sshd start-sshd stop-pg crash-pg start-pg rekey[-ed25519|-ecdsa|-rsa] certify trust gateway behind status)" ;;
esac
