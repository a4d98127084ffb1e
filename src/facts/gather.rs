//! Gathers the facts of every node at once: the node read (`node_read`:
//! files, pg_controldata, PostgreSQL's verdict, in one command), then SQL
//! on the same session when the server runs. Nothing on a node changes. I/O.

use std::collections::BTreeMap;

use super::node_read;
use super::observed::{
    FileSetting, NodeFacts, Observed, ObservedSetting, OtherRole, Reached, Replica, RoleFacts,
    SettingLimits, SlotFacts, WalReceiver,
};
use super::parse::conf_settings;
use crate::desired::{MANAGED_SETTINGS, REWIND_FUNCTIONS};
use crate::model::{Cluster, Node, NodeState, Secret};
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

fn gather_node(
    cluster: &Cluster,
    node: &Node,
    options: &AccessOptions,
) -> Result<Reached, AccessError> {
    let transport = transport::open(node, options)?;
    let read = crate::desired::read_paths(node);
    let output = transport.exec_as_postgres(
        RemoteCommand::new("sh")
            .args([
                "-c".to_owned(),
                node_read::script(),
                "mirrorset-facts".to_owned(),
            ])
            .args(node_read::arguments(node, &read)),
    )?;
    if !output.success() {
        return Err(AccessError::CommandFailed {
            node: node.name.clone(),
            doing: "reading the node's files".into(),
            reason: output.failure_reason(),
        });
    }
    let context = node_read::ReadContext {
        layout: &node.postgres,
        read: &read,
        sync_entries: node.sync.len(),
    };
    let mut reached = node_read::parse(&output.stdout_text(), &context);
    reached.login_user = transport.login_user().to_owned();
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
