//! Gathers the facts of every node at once: one command that reads the
//! files and pg_controldata, then SQL on the same session when the server
//! runs. Nothing on a node changes. I/O.

use std::collections::BTreeMap;

use base64::Engine;

use super::observed::{
    DataDir, FileSetting, Files, NodeFacts, Observed, ObservedSetting, OtherRole, PassfileFacts,
    Reached, Replica, RoleFacts, SettingLimits, SlotFacts, WalReceiver,
};
use super::parse::{conf_settings, controldata, key_values, postgres_version};
use crate::desired::{MANAGED_SETTINGS, REWIND_FUNCTIONS};
use crate::model::{Cluster, Node, NodeState, OWNED_FILE, Owned, Secret};
use crate::transport::{
    self, AccessError, AccessOptions, DEFAULT_CONCURRENCY, RemoteCommand, SqlSession, Transport,
    fan_out,
};

/// Beside the data directory after a pg_rewind failed there (apply writes
/// it, a clone removes it): the next plan clones the node instead.
pub const REWIND_FAILED: &str = "mirrorset-rewind-failed";

/// Settings read besides those mirrorset writes, the node's own and any in postgresql.auto.conf.
const ALSO_READ: [&str; 4] = [
    "data_checksums",
    "max_connections",
    "port",
    "superuser_reserved_connections",
];

const READ_NODE: &str = concat!(
    r#"bin=$1 data=$2 config=$3 socket=$4 port=$5 passfile=$6 ca=$7 cert=$8 key=$9 log=${10} owned=${11} legacy=${12}
file() { if [ -f "$2" ]; then printf '%s=' "$1"; base64 -w0 < "$2"; echo; fi; }
# The files to compare, as desired lists them: read<n> for the n-th.
shift 12; n=0
for path in "$@"; do file "read$n" "$path"; n=$((n + 1)); done
if version=$("$bin/postgres" --version 2>/dev/null); then printf 'version=%s\n' "$version"; fi
if [ -e "$data.mirrorset-rewind-failed" ]; then echo rewind_failed=yes; fi
if [ -e "$data.mirrorset-cloning" ]; then echo data=incomplete
elif [ -d "$data" ] && { [ ! -r "$data" ] || [ ! -x "$data" ]; }; then
  echo data=unreadable; printf 'data_stat=%s\n' "$(stat -c '%U %a' -- "$data")"
elif [ -f "$data/PG_VERSION" ]; then
  echo data=initialized
  printf 'controldata='; "$bin/pg_controldata" "$data" 2>/dev/null | base64 -w0; echo
elif [ -n "$(ls -A "$data" 2>/dev/null)" ]; then echo data=foreign
elif [ -d "$data" ]; then echo data=empty
else echo data=missing; fi
if [ -e "$data/standby.signal" ]; then echo standby_signal=yes; fi
if [ -f "$passfile" ]; then printf 'passfile_stat=%s\n' "$(stat -c '%a %U' "$passfile")"; file passfile "$passfile"; fi
file owned "$owned"
# Files an earlier mirrorset kept beside the data directory, before state folders.
if [ -n "$legacy" ]; then
  found=; for name in mirrorset.pgpass mirrorset-server.key mirrorset-server.crt mirrorset-ca.crt mirrorset-audit.jsonl; do
    if [ -e "$legacy/$name" ]; then found="$found $name"; fi
  done
  if [ -n "$found" ]; then printf 'legacy_files=%s\n' "$found"; fi
fi
if [ -f "$key" ]; then printf 'key_stat=%s\n' "$(stat -c '%a %U' "$key")"; file tls_key "$key"; fi
for tls in "$ca" "$cert" "$key"; do if [ -f "$tls" ]; then stat -c '%.9Y' "$tls"; fi; done | sort -n | tail -n 1 | sed 's/^/tls_mtime=/'
if [ -f "$data/PG_VERSION" ]; then
"#,
    super::verdict_lines!(),
    r#"fi
"$bin/pg_isready" -q -h "$socket" -p "$port" -t 3; echo "ready=$?"
"#
);

pub fn gather(cluster: &Cluster, options: &AccessOptions) -> Observed {
    let facts = fan_out(&cluster.nodes, DEFAULT_CONCURRENCY, |node| {
        let facts = match node.state {
            NodeState::Absent => NodeFacts::Skipped,
            _ => match gather_node(cluster, node, options) {
                Ok(reached) => NodeFacts::Yes(Box::new(reached)),
                Err(error) => NodeFacts::No {
                    reason: error.to_string(),
                },
            },
        };
        (node.name.clone(), facts)
    });
    Observed {
        nodes: facts.into_iter().collect(),
    }
}

/// Where mirrorset kept its files before state folders: beside the data
/// directory. Empty when that is the state folder itself.
fn legacy_dir(layout: &crate::model::PostgresLayout) -> String {
    let parent = std::path::Path::new(&layout.data_dir)
        .parent()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    if parent.is_empty() || parent == layout.state_dir {
        String::new()
    } else {
        parent
    }
}

fn decode(text: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn gather_node(
    cluster: &Cluster,
    node: &Node,
    options: &AccessOptions,
) -> Result<Reached, AccessError> {
    let transport = transport::open(node, options)?;
    let layout = &node.postgres;
    let read = crate::desired::read_paths(node);
    let tls = read.tls.clone();
    let output = transport.exec_as_postgres(
        RemoteCommand::new("sh").args(
            [
                "-c".to_owned(),
                READ_NODE.to_owned(),
                "mirrorset-facts".to_owned(),
                layout.bin_dir.clone(),
                layout.data_dir.clone(),
                layout.config_dir.clone(),
                layout.socket_dir.clone(),
                layout.port.to_string(),
                layout.passfile.clone(),
                tls.ca,
                tls.cert,
                tls.key,
                layout.log_file.clone(),
                format!("{}/{OWNED_FILE}", layout.state_dir),
                legacy_dir(layout),
            ]
            .into_iter()
            .chain(read.all().iter().map(|path| path.to_string())),
        ),
    )?;
    if !output.success() {
        return Err(AccessError::CommandFailed {
            node: node.name.clone(),
            doing: "reading the node's files".into(),
            reason: output.failure_reason(),
        });
    }
    let values = key_values(&output.stdout_text());
    let file = |key: &str| values.get(key).and_then(|text| decode(text));
    let data_dir = match values.get("data").map(String::as_str) {
        Some("initialized") => {
            let control = controldata(&file("controldata").unwrap_or_default());
            DataDir::Initialized {
                system_identifier: control
                    .get("Database system identifier")
                    .cloned()
                    .unwrap_or_default(),
                cluster_state: control
                    .get("Database cluster state")
                    .cloned()
                    .unwrap_or_default(),
                checkpoint_timeline: control
                    .get("Latest checkpoint's TimeLineID")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                checkpoint_lsn: control.get("Latest checkpoint location").cloned(),
                redo_lsn: control.get("Latest checkpoint's REDO location").cloned(),
                rewindable: control.get("wal_log_hints setting").map(String::as_str) == Some("on")
                    || control
                        .get("Data page checksum version")
                        .is_some_and(|v| v != "0"),
            }
        }
        Some("foreign") => DataDir::Foreign,
        Some("unreadable") => {
            let stat = values.get("data_stat").cloned().unwrap_or_default();
            let (owner, mode) = stat.split_once(' ').unwrap_or((stat.as_str(), ""));
            DataDir::Unreadable {
                owner: owner.to_owned(),
                mode: mode.to_owned(),
            }
        }
        Some("incomplete") => DataDir::Incomplete,
        Some("empty") => DataDir::Empty,
        _ => DataDir::Missing,
    };
    let secret_file = |stat_key: &str, content_key: &str| {
        values.get(stat_key).and_then(|stat| {
            let (mode, owner) = stat.split_once(' ')?;
            Some(PassfileFacts {
                mode: u32::from_str_radix(mode, 8).ok()?,
                owner: owner.to_owned(),
                content: Secret::new(file(content_key).unwrap_or_default()),
            })
        })
    };
    let passfile = secret_file("passfile_stat", "passfile");
    let tls_key = secret_file("key_stat", "tls_key");
    let mut reached = Reached {
        postgres_version: values.get("version").and_then(|v| postgres_version(v)),
        data_dir,
        running: values.get("ready").map(String::as_str) == Some("0"),
        files: Files {
            hba_path: Some(read.hba.clone()),
            found: read
                .all()
                .iter()
                .enumerate()
                .filter_map(|(n, path)| Some((path.to_string(), file(&format!("read{n}"))?)))
                .collect(),
        },
        standby_signal: values.contains_key("standby_signal"),
        rewind_failed: values.contains_key("rewind_failed"),
        passfile,
        tls_key,
        tls_mtime: values.get("tls_mtime").and_then(|t| t.parse().ok()),
        log_errors: file("log_errors")
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        config_rejected: file("config_rejected").filter(|text| !text.trim().is_empty()),
        ..Reached::default()
    };
    let in_use = [&layout.passfile, &layout.log_file];
    reached.legacy_files = values
        .get("legacy_files")
        .map(|names| {
            names
                .split_whitespace()
                .map(|name| format!("{}/{name}", legacy_dir(layout)))
                .filter(|path| !in_use.contains(&path))
                .collect()
        })
        .unwrap_or_default();
    match file("owned").map(|text| Owned::parse(&text)) {
        Some(Ok(owned)) => reached.owned = Some(owned),
        Some(Err(error)) => reached.owned_error = Some(error),
        None => {}
    }
    if reached.running {
        gather_sql(cluster, node, &*transport, &mut reached)?;
    }
    Ok(reached)
}

fn gather_sql(
    cluster: &Cluster,
    node: &Node,
    transport: &dyn Transport,
    reached: &mut Reached,
) -> Result<(), AccessError> {
    let sql = SqlSession::connect(transport, &node.postgres)?;
    // The server's state in one round trip: role, timeline, WAL position,
    // and replay paused (standby) or the oldest WAL kept (primary).
    let row = sql.query_one(
        "SELECT pg_is_in_recovery(), current_setting('hba_file'),
                CASE WHEN pg_is_in_recovery()
                     THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                                   (SELECT timeline_id FROM pg_control_checkpoint()))
                     ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
                (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
                CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
                CASE WHEN NOT pg_is_in_recovery()
                     THEN (SELECT min(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$') END,
                (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
                extract(epoch FROM pg_conf_load_time())::float8",
        &[],
    )?;
    let in_recovery: bool = row.get(0);
    reached.in_recovery = Some(in_recovery);
    reached.lsn = row.get(3);
    reached.replay_paused = row.get(4);
    reached.conf_load_time = row.get(7);
    let oldest_segment: Option<String> = row.get(5);
    let segment_bytes: Option<i64> = row.get(6);
    reached.oldest_wal_lsn = oldest_segment
        .zip(segment_bytes)
        .and_then(|(name, bytes)| crate::model::Lsn::of_segment(&name, bytes as u64))
        .map(|lsn| lsn.to_string());
    reached.replicas = sql
        .query(
            "SELECT application_name, host(client_addr), state,
                    pg_wal_lsn_diff(sent_lsn, replay_lsn)::bigint,
                    (extract(epoch FROM replay_lag) * 1000)::float8
             FROM pg_stat_replication ORDER BY application_name",
            &[],
        )?
        .iter()
        .map(|row| Replica {
            application_name: row.get(0),
            client_addr: row.get(1),
            state: row.get(2),
            lag_bytes: row.get(3),
            lag_ms: row.get(4),
        })
        .collect();
    reached.timeline = row.get::<_, Option<i32>>(2).map(|t| t as u32);
    let hba_path: String = row.get(1);
    if reached.files.hba_path.as_deref() != Some(hba_path.as_str()) {
        let hba = transport
            .read_file(&hba_path)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        reached.files.set(&hba_path, hba);
        reached.files.hba_path = Some(hba_path);
    }

    let mut names: Vec<String> = MANAGED_SETTINGS
        .iter()
        .chain(&ALSO_READ)
        .map(|s| s.to_string())
        .collect();
    names.extend(node.settings.keys().cloned());
    if let Some(auto) = reached
        .files
        .text(&crate::desired::read_paths(node).auto_conf)
    {
        names.extend(conf_settings(auto).into_keys());
    }
    names.sort();
    names.dedup();
    for row in sql.query(
        "SELECT name, setting, unit, context, sourcefile, pending_restart,
                vartype, min_val, max_val, enumvals FROM pg_settings WHERE name = ANY($1)",
        &[&names],
    )? {
        let name: String = row.get(0);
        if node.settings.contains_key(&name) {
            reached.setting_limits.insert(
                name.clone(),
                SettingLimits {
                    vartype: row.get(6),
                    unit: row.get(2),
                    min_val: row.get(7),
                    max_val: row.get(8),
                    enumvals: row.get::<_, Option<Vec<String>>>(9).unwrap_or_default(),
                },
            );
        }
        reached.settings.insert(
            name,
            ObservedSetting {
                setting: row.get(1),
                unit: row.get(2),
                context: row.get(3),
                source_file: row.get(4),
                pending_restart: row.get(5),
            },
        );
    }
    if node
        .settings
        .keys()
        .any(|name| !reached.settings.contains_key(name))
    {
        // Only when a name is unknown: the list a suggestion is taken from.
        reached.known_settings = sql
            .query("SELECT name FROM pg_settings ORDER BY name", &[])?
            .iter()
            .map(|row| row.get(0))
            .collect();
    }
    // PostgreSQL's verdict on its files as they are now, in one round
    // trip: pg_hba.conf's errors and the postgresql.conf rows that matter.
    for row in sql.query(
        "SELECT 'hba', NULL::int, line_number, NULL::text, NULL::text, NULL::text, error
         FROM pg_hba_file_rules WHERE error IS NOT NULL
         UNION ALL
         SELECT 'conf', seqno, sourceline, sourcefile, lower(name), setting, error
         FROM pg_file_settings WHERE error IS NOT NULL OR lower(name) = ANY($1)",
        &[&names],
    )? {
        let line: Option<i32> = row.get(2);
        let error: Option<String> = row.get(6);
        if row.get::<_, String>(0) == "hba" {
            reached.hba_errors.push(format!(
                "line {}: {}",
                line.unwrap_or(0),
                error.unwrap_or_default()
            ));
        } else {
            reached.file_settings.push(FileSetting {
                seqno: row.get::<_, Option<i32>>(1).unwrap_or(0),
                file: row.get(3),
                line,
                name: row.get(4),
                setting: row.get(5),
                error,
            });
        }
    }
    let user = cluster.replication.user.as_str();
    // The replication role, and in the same round trip every other role
    // that could be a former one: those with REPLICATION and those the
    // node's record names, each with how many objects it owns.
    let recorded: Vec<String> = reached
        .owned
        .iter()
        .flat_map(|owned| owned.roles.iter().cloned())
        .collect();
    let roles = sql.query(
        "SELECT rolname::text, rolcanlogin, rolreplication, rolsuper, rolconnlimit::bigint,
                CASE WHEN rolname = $1 THEN rolpassword END,
                (SELECT count(*) FROM pg_shdepend d WHERE d.refobjid = a.oid AND d.deptype = 'o')::bigint
         FROM pg_authid a WHERE rolname = $1 OR rolreplication OR rolname = ANY($2)",
        &[&user, &recorded],
    )?;
    for row in roles.iter().filter(|row| row.get::<_, String>(0) != user) {
        reached.other_roles.insert(
            row.get(0),
            OtherRole {
                login: row.get(1),
                owned_objects: row.get(6),
            },
        );
    }
    let role: Vec<_> = roles
        .iter()
        .filter(|row| row.get::<_, String>(0) == user)
        .collect();
    reached.role = Some(match role.first() {
        None => RoleFacts::missing(),
        Some(row) => {
            let mut rewind_grants = BTreeMap::new();
            for function in REWIND_FUNCTIONS {
                let granted = sql.query_one(
                    "SELECT has_function_privilege($1, $2, 'EXECUTE')",
                    &[&user, &function],
                )?;
                rewind_grants.insert(function.to_owned(), granted.get::<_, bool>(0));
            }
            RoleFacts {
                exists: true,
                login: row.get(1),
                replication: row.get(2),
                superuser: row.get(3),
                connection_limit: row.get(4),
                verifier: row.get::<_, Option<String>>(5).map(Secret::new),
                rewind_grants,
            }
        }
    });
    reached.slots = sql
        .query(
            "SELECT slot_name::text, slot_type = 'physical', active, restart_lsn::text, wal_status,
                    CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL
                         ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END
             FROM pg_replication_slots ORDER BY slot_name",
            &[],
        )?
        .iter()
        .map(|row| SlotFacts {
            name: row.get(0),
            physical: row.get(1),
            active: row.get(2),
            restart_lsn: row.get(3),
            wal_status: row.get(4),
            retained_bytes: row.get(5),
        })
        .collect();
    if in_recovery {
        reached.wal_receiver = sql
            .query(
                "SELECT status, sender_host, sender_port, slot_name FROM pg_stat_wal_receiver",
                &[],
            )?
            .first()
            .map(|row| WalReceiver {
                status: row.get(0),
                sender_host: row.get(1),
                sender_port: row.get(2),
                slot_name: row.get(3),
            });
    }
    Ok(())
}
