# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the scripts that source this
# lib.sh - helpers shared by up.sh, down.sh and ctl.sh (sourced, never run).
#
# In:  the caller sets DIR (state directory of one set of fake hosts) and, for
#      per-host helpers, NET. Layout of DIR is described in up.sh.
# Out: functions only; nothing runs at source time.

# The PostgreSQL the hosts run: Debian's 15 unless up.sh --pg-bin (kept in hosts.env) says otherwise.
DEFAULT_PG_BIN=/usr/lib/postgresql/15/bin
PG_BIN=$DEFAULT_PG_BIN
SSHD=/usr/sbin/sshd
DEFAULT_BASE=/tmp/mirrorset-hosts
SHIM_PATH_SUFFIX=bindaddr.so
HOST_PATH="$PG_BIN:/usr/local/bin:/usr/bin:/bin"
# use_pg_bin DIR: the hosts run the PostgreSQL in DIR.
use_pg_bin() {
    PG_BIN=$1
    HOST_PATH="$PG_BIN:/usr/local/bin:/usr/bin:/bin"
}
MARKER=.mirrorset-hosts

die() { echo "mirrorset-hosts: error: $*" >&2; exit 1; }
say() { echo "mirrorset-hosts: $*"; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it starts sshd and runs PostgreSQL as postgres)"; }

valid_dir() {
    [[ $1 =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
        die "DIR '$1' must be an absolute path of [A-Za-z0-9._/+-] only (it goes unquoted into sshd_config, LD_PRELOAD and postgresql.conf)"
}

# int_in VALUE MIN MAX: VALUE is a decimal integer in [MIN, MAX].
int_in() {
    [[ $1 =~ ^[0-9]{1,4}$ ]] || return 1
    ((10#$1 >= $2 && 10#$1 <= $3))
}

valid_net() {
    int_in "$1" 1 255 || die "--net must be 1..255 (hosts are 127.0.NET.i), got '$1'"
    NET=$((10#$1))
}

# Take the per-DIR lock on fd 9 (serializes up/down/ctl on one DIR).
# Daemons must be started with 9>&- so they do not inherit it.
lock_dir() {
    exec 9>"$DIR/.lock"
    flock -w 120 9 || die "timed out waiting for the lock $DIR/.lock"
}

# Per-host paths. Usage: host_vars I  (sets H_* variables)
host_vars() {
    local i=$1
    H_NAME="node$i"
    H_ADDR="127.0.$NET.$i"
    H_ROOT="$DIR/node$i"
    H_ETC="$H_ROOT/etc"
    H_DATA="$H_ROOT/data"
    H_RUN="$H_ROOT/run"
    H_LOG="$H_ROOT/postgresql.log"
    H_SSH="$H_ROOT/ssh"
    H_SSH_CONFIG="$H_SSH/sshd_config"
    H_SSH_KEY="$H_SSH/ssh_host_ed25519_key"
    H_SSH_PID="$H_SSH/sshd.pid"
    H_SSH_LOG="$H_SSH/sshd.log"
}

# proc_alive PID: true if PID exists and is not a zombie (PID 1 here may not reap).
proc_alive() {
    local pid=$1 stat rest
    read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
    rest=${stat##*) }
    [[ ${rest%% *} != Z ]]
}

# children_of PID...: direct children of any PID given (from /proc, no name matching).
children_of() {
    local f stat rest fields p
    local -A want=()
    for p in "$@"; do want[$p]=1; done
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        rest=${stat##*) }
        read -r -a fields <<<"$rest"
        if [[ -n ${want[${fields[1]}]:-} ]]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}

# kill_wait PID SIGNAL SECONDS: signal PID and wait until it is gone.
kill_wait() {
    local pid=$1 sig=$2 secs=$3 n
    kill -s "$sig" "$pid" 2>/dev/null || return 0
    for ((n = 0; n < secs * 20; n++)); do
        proc_alive "$pid" || return 0
        sleep 0.05
    done
    return 1
}

# sshd_pid PIDFILE CONFIG: print the pid of the live sshd listener started with
# -f CONFIG whose pid is in PIDFILE; fail if there is none (stale file, reused pid).
sshd_pid() {
    local pidfile=$1 config=$2 pid exe cmd
    [[ -r $pidfile ]] || return 1
    read -r pid <"$pidfile" 2>/dev/null || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    proc_alive "$pid" || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ $exe == "$SSHD" || $exe == "$SSHD (deleted)" ]] || return 1
    # sshd rewrites its title ("sshd: /usr/sbin/sshd -f CFG ... [listener] ..."): match a word.
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ " $cmd " == *" $config "* ]] || return 1
    echo "$pid"
}

# pg_pid DATADIR: print the pid of the live postmaster whose postmaster.pid is
# in DATADIR (its cwd is DATADIR and its binary is a postgres); else fail.
pg_pid() {
    local data=$1 pid cwd real exe
    [[ -r $data/postmaster.pid ]] || return 1
    read -r pid <"$data/postmaster.pid" 2>/dev/null || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    proc_alive "$pid" || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    real=$(realpath -e "$data" 2>/dev/null) || return 1
    [[ $cwd == "$real" ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [[ ${exe##*/} == postgres ]] || return 1
    echo "$pid"
}

# scan_dir_procs DIR: print "sshd PID" for every live sshd listener started with
# -f DIR/nodeI/ssh/sshd_config and "pg PID" for every postmaster whose working
# directory is under DIR/ (also when DIR or its pid files were removed). This
# finds what up.sh/ctl.sh (or mirrorset over ssh) started even without pid files.
scan_dir_procs() {
    local d=$1 p pid arg0 exe cwd
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        arg0=
        read -r -d '' arg0 2>/dev/null <"$p/cmdline" || [[ -n $arg0 ]] || continue
        case $arg0 in
        "sshd: $SSHD -f $d/node"*"/ssh/sshd_config "*"[listener]"*)
            proc_alive "$pid" || continue
            exe=$(readlink "$p/exe" 2>/dev/null) || continue
            [[ ${exe% (deleted)} == "$SSHD" ]] && echo "sshd $pid"
            ;;
        */postgres | postgres)
            proc_alive "$pid" || continue
            cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
            [[ ${cwd% (deleted)}/ == "$d"/* ]] || continue
            exe=$(readlink "$p/exe" 2>/dev/null) || continue
            exe=${exe% (deleted)}
            [[ ${exe##*/} == postgres ]] && echo "pg $pid"
            ;;
        esac
    done
}

# listeners PORT: local addresses with a TCP listener on PORT (one per line).
listeners() {
    ss -Htln 2>/dev/null | awk -v p=":$1" '{ a = $4; if (substr(a, length(a) - length(p) + 1) == p) print a }'
}

# port_free ADDR PORT WHAT: fail clearly if ADDR:PORT can't be bound.
port_free() {
    local addr=$1 port=$2 what=$3 l
    while read -r l; do
        case $l in
        "$addr:$port")
            die "$addr:$port is already in use by another process; see: ss -tlnp 'sport = :$port' (a leftover of an earlier run in this DIR? down.sh --dir DIR stops those)" ;;
        "0.0.0.0:$port" | "*:$port" | "[::]:$port")
            die "a process listens on all addresses at port $port ($l), so $what cannot listen on $addr:$port; stop it (for a system sshd: 'service ssh stop' or kill its pid; see: ss -tlnp 'sport = :$port')" ;;
        esac
    done < <(listeners "$port")
}

# launch_sshd I: start node I's sshd unless it is already running (no wait).
launch_sshd() {
    host_vars "$1"
    local pid
    if pid=$(sshd_pid "$H_SSH_PID" "$H_SSH_CONFIG"); then
        say "$H_NAME: sshd already running (pid $pid)"
        return 0
    fi
    [[ -f $H_SSH_CONFIG && -f $H_SSH_KEY ]] || die "$H_NAME: no sshd config/host key in $H_SSH (run up.sh first)"
    port_free "$H_ADDR" 22 "$H_NAME's sshd"
    mkdir -p /run/sshd
    rm -f "$H_SSH_PID"
    # sshd binds before it daemonizes: a failure to listen is its exit status.
    if ! "$SSHD" -f "$H_SSH_CONFIG" -E "$H_SSH_LOG" </dev/null 9>&-; then
        die "$H_NAME: sshd failed to start; last lines of $H_SSH_LOG: $(tail -n 5 "$H_SSH_LOG" 2>/dev/null)"
    fi
    SSHD_LAUNCHED[$1]=1
}

# wait_sshd I: wait for the pid file of an sshd launched by launch_sshd.
wait_sshd() {
    [[ -n ${SSHD_LAUNCHED[$1]:-} ]] || return 0
    host_vars "$1"
    local pid n
    for ((n = 0; n < 200; n++)); do
        if pid=$(sshd_pid "$H_SSH_PID" "$H_SSH_CONFIG"); then
            say "$H_NAME: sshd started on $H_ADDR:22 (pid $pid)"
            unset "SSHD_LAUNCHED[$1]"
            return 0
        fi
        sleep 0.02
    done
    die "$H_NAME: sshd did not write $H_SSH_PID; last lines of $H_SSH_LOG: $(tail -n 5 "$H_SSH_LOG" 2>/dev/null)"
}
declare -a SSHD_LAUNCHED=()

# start_sshd I: launch_sshd + wait_sshd.
start_sshd() {
    launch_sshd "$1"
    wait_sshd "$1"
}

# stop_sshd I: stop node I's sshd listener and its open connections.
stop_sshd() {
    host_vars "$1"
    local pid kids k
    if ! pid=$(sshd_pid "$H_SSH_PID" "$H_SSH_CONFIG"); then
        say "$H_NAME: sshd not running"
        return 0
    fi
    kids=$(children_of "$pid")
    kill_wait "$pid" TERM 5 || kill_wait "$pid" KILL 5 || die "$H_NAME: sshd pid $pid does not stop"
    # Per-connection sshd processes (children of the listener): a stopped host has no sessions.
    for k in $kids; do
        kill_wait "$k" TERM 2 || kill -KILL "$k" 2>/dev/null || true
    done
    rm -f "$H_SSH_PID"
    say "$H_NAME: sshd stopped (pid $pid)"
}

# as_postgres CMD...: run CMD as postgres with a clean environment, from DIR.
# Extra VAR=value words may precede CMD (passed to env).
as_postgres() {
    (cd / && runuser -u postgres -- env -i HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres \
        PATH="$HOST_PATH" LANG=C.UTF-8 "$@" 9>&-)
}

# start_pg I: start node I's PostgreSQL (pg_ctl on the config dir, with the shim).
start_pg() {
    host_vars "$1"
    local pid
    if pid=$(pg_pid "$H_DATA"); then
        say "$H_NAME: postgres already running (pid $pid)"
        return 0
    fi
    [[ -f $H_DATA/PG_VERSION ]] || die "$H_NAME: $H_DATA holds no cluster (no PG_VERSION)"
    port_free "$H_ADDR" 5432 "$H_NAME's postgres"
    if ! as_postgres LD_PRELOAD="$DIR/$SHIM_PATH_SUFFIX" MIRRORSET_BIND_ADDR="$H_ADDR" \
        "$PG_BIN/pg_ctl" -D "$H_ETC" -l "$H_LOG" -w -t 60 start >/dev/null; then
        die "$H_NAME: pg_ctl start failed; last lines of $H_LOG: $(tail -n 5 "$H_LOG" 2>/dev/null)"
    fi
    pid=$(pg_pid "$H_DATA") || die "$H_NAME: postgres started but no live postmaster.pid in $H_DATA"
    say "$H_NAME: postgres started on $H_ADDR:5432 (pid $pid)"
}

# stop_pg I MODE: pg_ctl -m MODE stop as postgres (no-op if not running).
stop_pg() {
    host_vars "$1"
    local mode=$2 pid
    if ! pid=$(pg_pid "$H_DATA"); then
        say "$H_NAME: postgres not running"
        return 0
    fi
    as_postgres "$PG_BIN/pg_ctl" -D "$H_DATA" -m "$mode" -w -t 60 stop >/dev/null ||
        die "$H_NAME: pg_ctl -m $mode stop failed"
    say "$H_NAME: postgres stopped (pid $pid, -m $mode)"
}

# known_hosts_set ADDR PUBKEYFILE: replace ADDR's line in the client known_hosts.
known_hosts_set() {
    local addr=$1 pub=$2 kh="$DIR/client/known_hosts" tmp
    tmp=$(mktemp "$kh.XXXXXX")
    if [[ -f $kh ]]; then
        awk -v a="$addr" '$1 != a' "$kh" >"$tmp"
    fi
    printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$pub")" >>"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$kh"
}
