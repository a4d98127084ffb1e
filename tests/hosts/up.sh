#!/usr/bin/env bash
# up.sh - bring up N fake "hosts" on loopback for mirrorset end-to-end tests.
#
# In:  up.sh [--net NET] [--count N] [--dir DIR] [--pg-bin DIR] [--check]
#      defaults NET=10, N=3, DIR=/tmp/mirrorset-hosts/netNET. Run as root.
#      --pg-bin: the PostgreSQL binaries the hosts run (default Debian's 15;
#      tests/hosts/pg18.sh installs 18 and prints its bin dir).
#      --check: after bringing up, log in over ssh as postgres to every host.
# Out: host i (1..N) is 127.0.NET.i, with
#      - its own sshd on 127.0.NET.i:22 (own ed25519 host key, logins as
#        postgres or root with the throwaway key DIR/client/id_ed25519; every
#        session gets LD_PRELOAD=DIR/bindaddr.so MIRRORSET_BIND_ADDR=127.0.NET.i
#        and PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin);
#      - a Debian-style PostgreSQL 15 layout: config DIR/nodeI/etc, data
#        DIR/nodeI/data (0700), socket dir DIR/nodeI/run, log
#        DIR/nodeI/postgresql.log, port 5432 on 127.0.NET.i. Host 1 is
#        initdb'd and running; hosts 2..N have an empty data dir, not running.
#      - DIR/client/known_hosts with every host's key, DIR/hosts.env and
#        DIR/hosts.json describing all of it.
#      Idempotent: what already runs (checked by pid file + live process) is
#      left alone. Installs openssh-server / postgresql-15 / gcc if missing.
#      Stop with down.sh; per-host actions with ctl.sh.
#
# Layout of DIR:
#   .mirrorset-hosts          marker (down.sh --purge only removes marked dirs)
#   bindaddr.so               LD_PRELOAD shim built from tests/hosts/bindaddr.c
#   authorized_keys           client public key, for every sshd
#   client/id_ed25519{,.pub}  throwaway client key; client/known_hosts
#   template/                 initdb's postgresql.conf and pg_ident.conf
#   hosts.env, hosts.json
#   nodeI/ (postgres, 0755)   etc/ data/ run/ postgresql.log
#   nodeI/ssh/ (root)         sshd_config ssh_host_ed25519_key{,.pub} sshd.pid sshd.log
set -euo pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hosts/lib.sh
. "$HERE/lib.sh"

NET=10
COUNT=3
DIR=
CHECK=0
while (($#)); do
    case $1 in
    --net) NET=${2:?--net needs a value}; shift 2 ;;
    --count) COUNT=${2:?--count needs a value}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --check) CHECK=1; shift ;;
    --pg-bin) use_pg_bin "${2:?--pg-bin needs a value}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
valid_net "$NET"
int_in "$COUNT" 1 254 || die "--count must be 1..254, got '$COUNT'"
COUNT=$((10#$COUNT))
DIR=${DIR:-$DEFAULT_BASE/net$NET}
DIR=${DIR%/}
valid_dir "$DIR"
need_root
START=$(date +%s.%N)

# ---------------------------------------------------------------- packages
install_packages() {
    local pkgs=("$@")
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
    say "installing ${pkgs[*]} (apt-get)"
    # apt-get update only when the install can't proceed with the current lists.
    if ! apt-get install "${opts[@]}" --no-install-recommends "${pkgs[@]}" >/tmp/mirrorset-hosts-apt.log 2>&1; then
        apt-get update -q -o DPkg::Lock::Timeout=300 >>/tmp/mirrorset-hosts-apt.log 2>&1 ||
            die "apt-get update failed; see /tmp/mirrorset-hosts-apt.log"
        apt-get install "${opts[@]}" --no-install-recommends "${pkgs[@]}" >>/tmp/mirrorset-hosts-apt.log 2>&1 ||
            die "apt-get install ${pkgs[*]} failed; see /tmp/mirrorset-hosts-apt.log"
    fi
}
missing_packages() {
    MISSING=()
    [[ -x $SSHD ]] || MISSING+=(openssh-server)
    if [[ $PG_BIN == "$DEFAULT_PG_BIN" ]]; then
        [[ -x $PG_BIN/postgres && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] || MISSING+=(postgresql-15)
    fi
    command -v gcc >/dev/null || MISSING+=(gcc libc6-dev)
    command -v ssh-keygen >/dev/null || MISSING+=(openssh-client)
    command -v ss >/dev/null || MISSING+=(iproute2)
}
missing_packages
if ((${#MISSING[@]})); then
    # Several test processes may run up.sh at once: install under one global lock.
    exec 8>/tmp/mirrorset-hosts-apt.lock
    flock -w 600 8 || die "timed out waiting for /tmp/mirrorset-hosts-apt.lock"
    missing_packages
    ((${#MISSING[@]} == 0)) || install_packages "${MISSING[@]}"
    exec 8>&-
fi
[[ -x $SSHD ]] || die "$SSHD missing after installing openssh-server"
[[ -x $PG_BIN/postgres ]] || die "$PG_BIN/postgres missing (PostgreSQL 15: apt-get install postgresql-15; 18: bash tests/hosts/pg18.sh)"
mkdir -p /run/sshd
chmod 0755 /run/sshd

# ---------------------------------------------------------------- DIR
if [[ -d $DIR && ! -e $DIR/$MARKER && -n $(ls -A "$DIR") ]]; then
    die "$DIR exists, is not empty and was not made by up.sh (no $MARKER): refusing to use it"
fi
# postgres must reach everything under DIR (LD_PRELOAD shim, data dirs, sockets).
parent=$DIR
while [[ ! -d $parent ]]; do parent=$(dirname "$parent"); done
runuser -u postgres -- test -x "$parent" ||
    die "user postgres cannot traverse $parent: every parent directory of DIR needs o+x (e.g. use a dir under /tmp)"
mkdir -p "$DIR"
chmod 0755 "$DIR"
touch "$DIR/$MARKER"
lock_dir
sock="$DIR/node$COUNT/run/.s.PGSQL.5432"
((${#sock} <= 107)) || die "DIR is too long: the unix socket path $sock exceeds 107 bytes"

# ---------------------------------------------------------------- shim
SHIM="$DIR/$SHIM_PATH_SUFFIX"
if [[ ! -f $SHIM || $HERE/bindaddr.c -nt $SHIM ]]; then
    tmp=$(mktemp "$SHIM.XXXXXX")
    gcc -shared -fPIC -O2 -Wall -o "$tmp" "$HERE/bindaddr.c" -ldl || die "compiling $HERE/bindaddr.c failed"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$SHIM" # rename: processes that mapped the old one keep it
    say "built $SHIM"
fi

# ---------------------------------------------------------------- client key
mkdir -p "$DIR/client"
chmod 0755 "$DIR/client"
CLIENT_KEY="$DIR/client/id_ed25519"
KNOWN_HOSTS="$DIR/client/known_hosts"
if [[ ! -f $CLIENT_KEY || ! -f $CLIENT_KEY.pub ]]; then
    rm -f "$CLIENT_KEY" "$CLIENT_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "mirrorset-test-client@net$NET" -f "$CLIENT_KEY"
fi
chmod 0600 "$CLIENT_KEY"
install -m 0644 "$CLIENT_KEY.pub" "$DIR/authorized_keys"
touch "$KNOWN_HOSTS"
chmod 0644 "$KNOWN_HOSTS"

# ---------------------------------------------------------------- per-host files
# node_conf TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT, replacing the first
# (commented or not) line of each KEY by "KEY = VALUE", appending KEYs not found.
node_conf() {
    local template=$1 out=$2
    shift 2
    awk '
        BEGIN { for (i = 1; i < ARGC - 1; i++) { n = index(ARGV[i], "="); k = substr(ARGV[i], 1, n - 1)
                    keys[++nk] = k; val[k] = substr(ARGV[i], n + 1); ARGV[i] = "" } }
        { for (j = 1; j <= nk; j++) { k = keys[j]
              if (!(k in done) && $0 ~ ("^[ \t]*#?[ \t]*" k "[ \t]*=")) { print k " = " val[k]; done[k] = 1; next } }
          print }
        END { for (j = 1; j <= nk; j++) if (!(keys[j] in done)) print keys[j] " = " val[keys[j]] }
    ' "$@" "$template" >"$out"
}

write_pg_hba() { # Debian's default pg_hba.conf
    cat >"$1" <<'EOF'
# PostgreSQL Client Authentication Configuration File
# ===================================================
#
# Debian's default, written by mirrorset tests/hosts/up.sh.
#
# TYPE  DATABASE        USER            ADDRESS                 METHOD

# Database administrative login by Unix domain socket
local   all             postgres                                peer

# "local" is for Unix domain socket connections only
local   all             all                                     peer
# IPv4 local connections:
host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
EOF
}

write_sshd_config() {
    cat >"$H_SSH_CONFIG" <<EOF
# sshd for fake host $H_NAME ($H_ADDR), written by mirrorset tests/hosts/up.sh.
ListenAddress $H_ADDR:22
HostKey $H_SSH_KEY
PidFile $H_SSH_PID
LogLevel VERBOSE
# postgres' password is locked ('!'): without PAM sshd refuses even key logins.
UsePAM yes
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
# Only these may log in, so a wrong ssh.user is refused like on a real server.
AllowUsers postgres root
AuthorizedKeysFile $DIR/authorized_keys
MaxStartups 200:30:400
MaxSessions 100
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp internal-sftp
Match LocalAddress $H_ADDR
    SetEnv LD_PRELOAD=$SHIM MIRRORSET_BIND_ADDR=$H_ADDR PATH=$HOST_PATH
EOF
}

# Host 1's cluster: initdb once; its generated postgresql.conf / pg_ident.conf
# become the template of every host's config dir.
host_vars 1
mkdir -p "$DIR/template"
chmod 0755 "$DIR/template"
install -d -o postgres -g postgres -m 0755 "$H_ROOT"
if [[ ! -f $H_DATA/PG_VERSION ]]; then
    rm -rf "$H_DATA"
    install -d -o postgres -g postgres -m 0700 "$H_DATA"
    say "node1: initdb $H_DATA"
    as_postgres "$PG_BIN/initdb" -D "$H_DATA" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 --no-sync >"$H_ROOT/initdb.log" 2>&1 ||
        die "initdb failed; see $H_ROOT/initdb.log"
    install -m 0644 "$H_DATA/postgresql.conf" "$DIR/template/postgresql.conf"
    install -m 0644 "$H_DATA/pg_ident.conf" "$DIR/template/pg_ident.conf"
    # The config dir's files are the ones used (Debian layout).
    rm -f "$H_DATA/postgresql.conf" "$H_DATA/pg_hba.conf" "$H_DATA/pg_ident.conf"
fi
[[ -f $DIR/template/postgresql.conf && -f $DIR/template/pg_ident.conf ]] ||
    die "$DIR/template lost initdb's config files; start over with down.sh --purge"

# Directories of all hosts in a few calls (this loop dominates up's time at 20 hosts).
pg_dirs=() run_dirs=() data_dirs=() ssh_dirs=() new_logs=()
for ((i = 1; i <= COUNT; i++)); do
    host_vars "$i"
    pg_dirs+=("$H_ROOT" "$H_ETC")
    run_dirs+=("$H_RUN")
    ssh_dirs+=("$H_SSH")
    [[ -d $H_DATA ]] || data_dirs+=("$H_DATA")
    [[ -f $H_LOG ]] || new_logs+=("$H_LOG")
done
install -d -o postgres -g postgres -m 0755 "${pg_dirs[@]}"
install -d -o postgres -g postgres -m 2775 "${run_dirs[@]}"
install -d -m 0755 "${ssh_dirs[@]}"
((${#data_dirs[@]} == 0)) || install -d -o postgres -g postgres -m 0700 "${data_dirs[@]}"
if ((${#new_logs[@]})); then
    touch "${new_logs[@]}"
    chown postgres:postgres "${new_logs[@]}"
    chmod 0640 "${new_logs[@]}"
fi

new_conf=() new_private=() kh_addrs=() kh_lines=()
for ((i = 1; i <= COUNT; i++)); do
    host_vars "$i"
    # PostgreSQL config dir: written once, then left to the tests / mirrorset.
    if [[ ! -f $H_ETC/postgresql.conf ]]; then
        node_conf "$DIR/template/postgresql.conf" "$H_ETC/postgresql.conf" \
            "data_directory='$H_DATA'" "hba_file='$H_ETC/pg_hba.conf'" "ident_file='$H_ETC/pg_ident.conf'" \
            "listen_addresses='$H_ADDR'" "port=5432" "unix_socket_directories='$H_RUN'"
        new_conf+=("$H_ETC/postgresql.conf")
    fi
    if [[ ! -f $H_ETC/pg_hba.conf ]]; then
        write_pg_hba "$H_ETC/pg_hba.conf"
        new_private+=("$H_ETC/pg_hba.conf")
    fi
    if [[ ! -f $H_ETC/pg_ident.conf ]]; then
        cp "$DIR/template/pg_ident.conf" "$H_ETC/pg_ident.conf"
        new_private+=("$H_ETC/pg_ident.conf")
    fi

    # sshd: host key generated once (kept so known_hosts stays valid).
    new_key=0
    if [[ ! -f $H_SSH_KEY || ! -f $H_SSH_KEY.pub ]]; then
        rm -f "$H_SSH_KEY" "$H_SSH_KEY.pub"
        ssh-keygen -q -t ed25519 -N '' -C "$H_NAME@net$NET" -f "$H_SSH_KEY"
        new_key=1
    fi
    if ((new_key)) || ! grep -q "^$H_ADDR " "$KNOWN_HOSTS"; then
        read -r kt kk _ <"$H_SSH_KEY.pub"
        kh_addrs+=("$H_ADDR")
        kh_lines+=("$H_ADDR $kt $kk")
    fi
    write_sshd_config
done
if ((${#new_conf[@]} + ${#new_private[@]})); then
    chown postgres:postgres "${new_conf[@]}" "${new_private[@]}"
fi
((${#new_conf[@]} == 0)) || chmod 0644 "${new_conf[@]}"
((${#new_private[@]} == 0)) || chmod 0640 "${new_private[@]}"
if ((${#kh_addrs[@]})); then
    # Replace the lines of (re)keyed hosts in known_hosts, keep everything else.
    tmp=$(mktemp "$KNOWN_HOSTS.XXXXXX")
    awk -v drop="${kh_addrs[*]}" 'BEGIN { n = split(drop, d, " "); for (i = 1; i <= n; i++) x[d[i]] = 1 } !($1 in x)' \
        "$KNOWN_HOSTS" >"$tmp"
    printf '%s\n' "${kh_lines[@]}" >>"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$KNOWN_HOSTS"
fi

# ---------------------------------------------------------------- start
# Launch every sshd first, then wait for their pid files (saves a poll per host).
for ((i = 1; i <= COUNT; i++)); do
    launch_sshd "$i"
done
for ((i = 1; i <= COUNT; i++)); do
    wait_sshd "$i"
done
start_pg 1
# Hosts 2..N are started later by the tests: their address must be free too.
for ((i = 2; i <= COUNT; i++)); do
    host_vars "$i"
    pg_pid "$H_DATA" >/dev/null || port_free "$H_ADDR" 5432 "$H_NAME's postgres"
done

# ---------------------------------------------------------------- describe
write_descriptions() {
    local env_tmp json_tmp sep
    env_tmp=$(mktemp "$DIR/hosts.env.XXXXXX")
    json_tmp=$(mktemp "$DIR/hosts.json.XXXXXX")
    {
        echo "# Fake mirrorset test hosts, written by tests/hosts/up.sh. Source me."
        echo "NET=$NET"
        echo "COUNT=$COUNT"
        echo "DIR=$DIR"
        echo "CLIENT_KEY=$CLIENT_KEY"
        echo "KNOWN_HOSTS=$KNOWN_HOSTS"
        echo "BIND_SHIM=$SHIM"
        echo "PG_BIN=$PG_BIN"
        for ((i = 1; i <= COUNT; i++)); do
            host_vars "$i"
            echo "HOST_${i}_NAME=$H_NAME"
            echo "HOST_${i}_ADDR=$H_ADDR"
            echo "HOST_${i}_SSH_PORT=22"
            echo "HOST_${i}_PG_PORT=5432"
            echo "HOST_${i}_CONFIG_DIR=$H_ETC"
            echo "HOST_${i}_DATA_DIR=$H_DATA"
            echo "HOST_${i}_SOCKET_DIR=$H_RUN"
            echo "HOST_${i}_LOG=$H_LOG"
            echo "HOST_${i}_SSH_CONFIG=$H_SSH_CONFIG"
            echo "HOST_${i}_SSH_PID_FILE=$H_SSH_PID"
            echo "HOST_${i}_SSH_LOG=$H_SSH_LOG"
        done
    } >"$env_tmp"
    {
        printf '{\n  "net": %d,\n  "count": %d,\n  "dir": "%s",\n' "$NET" "$COUNT" "$DIR"
        printf '  "client_key": "%s",\n  "known_hosts": "%s",\n' "$CLIENT_KEY" "$KNOWN_HOSTS"
        printf '  "bind_shim": "%s",\n  "pg_bin": "%s",\n  "hosts": [' "$SHIM" "$PG_BIN"
        sep=
        for ((i = 1; i <= COUNT; i++)); do
            host_vars "$i"
            printf '%s\n    {"name": "%s", "addr": "%s", "ssh_port": 22, "pg_port": 5432, ' "$sep" "$H_NAME" "$H_ADDR"
            printf '"config_dir": "%s", "data_dir": "%s", "socket_dir": "%s", "log": "%s", ' "$H_ETC" "$H_DATA" "$H_RUN" "$H_LOG"
            printf '"ssh_config": "%s", "ssh_pid_file": "%s", "ssh_log": "%s"}' "$H_SSH_CONFIG" "$H_SSH_PID" "$H_SSH_LOG"
            sep=,
        done
        printf '\n  ]\n}\n'
    } >"$json_tmp"
    chmod 0644 "$env_tmp" "$json_tmp"
    mv -f "$env_tmp" "$DIR/hosts.env"
    mv -f "$json_tmp" "$DIR/hosts.json"
}
write_descriptions

if ((CHECK)); then
    pids=()
    for ((i = 1; i <= COUNT; i++)); do
        addr="127.0.$NET.$i"
        ssh -i "$CLIENT_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
            -o BatchMode=yes -o ConnectTimeout=10 "postgres@$addr" \
            "test \"\$MIRRORSET_BIND_ADDR\" = $addr && test \"\$(whoami)\" = postgres" </dev/null 9>&- &
        pids+=("$!")
    done
    for ((i = 1; i <= COUNT; i++)); do
        wait "${pids[i - 1]}" || die "--check: ssh postgres@127.0.$NET.$i failed"
    done
    say "--check: ssh as postgres works on all $COUNT hosts"
fi

END=$(date +%s.%N)
say "$COUNT hosts up on 127.0.$NET.1-$COUNT in $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }') s; see $DIR/hosts.env and $DIR/hosts.json"
