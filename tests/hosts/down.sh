#!/usr/bin/env bash
# down.sh - stop the fake hosts that up.sh brought up (and, with --purge, remove DIR).
#
# In:  down.sh [--net NET] [--dir DIR] [--purge]
#      defaults NET=10, DIR=/tmp/mirrorset-hosts/netNET. Run as root.
# Out: stopped, and nothing else signalled:
#      - each DIR/nodeI sshd named by its pid file (DIR/nodeI/ssh/sshd.pid) and
#        running with that config, plus its open connections;
#      - each postmaster whose postmaster.pid lies under DIR (whoever started
#        it: up.sh, ctl.sh or mirrorset over ssh) and whose working directory
#        is that data dir, like `pg_ctl -m immediate stop` (SIGQUIT);
#      - leftovers that lost their pid file: sshd listeners run with
#        -f DIR/nodeI/ssh/sshd_config, postmasters whose cwd is under DIR.
#      Idempotent: a missing DIR or stopped hosts is fine. --purge then
#      removes DIR (only a directory marked by up.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"

NET=10
DIR=
PURGE=0
while (($#)); do
    case $1 in
    --net) NET=${2:?--net needs a value}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --purge) PURGE=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
valid_net "$NET"
DIR=${DIR:-$DEFAULT_BASE/net$NET}
DIR=${DIR%/}
valid_dir "$DIR"
need_root

if [[ -d $DIR ]]; then
    [[ -e $DIR/$MARKER ]] || die "$DIR was not made by up.sh (no $MARKER): not touching it"
    lock_dir
else
    say "$DIR does not exist: only looking for leftover processes of it"
fi

# PostgreSQL: every postmaster.pid under DIR, whoever started the server.
declare -A pg_set=() sshd_set=()
while IFS= read -r -d '' pidfile; do
    data=${pidfile%/postmaster.pid}
    if pid=$(pg_pid "$data"); then
        pg_set[$pid]=1
        say "stopping postgres pid $pid (data $data) like pg_ctl -m immediate"
    fi
done < <(find "$DIR" -xdev -maxdepth 4 -name postmaster.pid -type f -print0 2>/dev/null)

# sshd: one listener per DIR/nodeI, by its pid file and config path.
for cfg in "$DIR"/node*/ssh/sshd_config; do
    [[ -f $cfg ]] || continue
    pidfile=${cfg%/sshd_config}/sshd.pid
    if pid=$(sshd_pid "$pidfile" "$cfg"); then
        sshd_set[$pid]=1
        say "stopping sshd pid $pid ($cfg)"
    fi
done

# Leftovers whose pid file is gone: sshd run with a config under DIR,
# postmasters whose working directory is under DIR.
while read -r kind pid; do
    if [[ $kind == sshd && -z ${sshd_set[$pid]:-} ]]; then
        sshd_set[$pid]=1
        say "stopping sshd pid $pid (its config is under $DIR, its pid file is not)"
    elif [[ $kind == pg && -z ${pg_set[$pid]:-} ]]; then
        pg_set[$pid]=1
        say "stopping postgres pid $pid (its data dir is under $DIR, no valid postmaster.pid)"
    fi
done < <(scan_dir_procs "$DIR")
pg_pids=("${!pg_set[@]}")
sshd_pids=("${!sshd_set[@]}")

# ... plus the listeners' per-connection children (a stopped host keeps no sessions).
kid_pids=()
if ((${#sshd_pids[@]})); then
    mapfile -t kid_pids < <(children_of "${sshd_pids[@]}")
fi

# Signal everything first, then wait for all of it (fast with 20 hosts).
for pid in "${pg_pids[@]}"; do kill -QUIT "$pid" 2>/dev/null || true; done
for pid in "${sshd_pids[@]}" "${kid_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
all=("${pg_pids[@]}" "${sshd_pids[@]}" "${kid_pids[@]}")
for ((n = 0; n < 400 && ${#all[@]}; n++)); do
    left=()
    for pid in "${all[@]}"; do
        if proc_alive "$pid"; then left+=("$pid"); fi
    done
    all=("${left[@]}")
    ((${#all[@]} == 0)) || sleep 0.05
done
if ((${#all[@]})); then
    say "still alive after 20 s, sending SIGKILL: ${all[*]}"
    for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
fi
for cfg in "$DIR"/node*/ssh/sshd_config; do
    [[ -f $cfg ]] || continue
    pidfile=${cfg%/sshd_config}/sshd.pid
    sshd_pid "$pidfile" "$cfg" >/dev/null || rm -f "$pidfile"
done
say "stopped what ran under $DIR"

if ((PURGE)) && [[ -d $DIR ]]; then
    exec 9>&-
    rm -rf "$DIR"
    say "removed $DIR"
fi
