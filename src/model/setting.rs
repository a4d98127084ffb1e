//! PostgreSQL settings (GUCs) as the cluster file states them: values,
//! their rendering in a postgresql.conf-style file, and which settings
//! carry units or belong to mirrorset. Pure.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Settings by name, sorted so rendered files are deterministic.
pub type Settings = BTreeMap<String, SettingValue>;

/// One setting's value as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SettingValue {
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
}

impl fmt::Display for SettingValue {
    /// The value as it appears right of `=` in postgresql.conf.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(true) => f.write_str("on"),
            Self::Bool(false) => f.write_str("off"),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::String(text) => write!(f, "'{}'", text.replace('\\', "\\\\").replace('\'', "''")),
        }
    }
}

/// What kind of unit a well-known setting takes, so "20gb" or "5m" is
/// caught in the file rather than by a server that refuses to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Size,
    Duration,
}

/// Common settings with units. Not exhaustive: an unknown setting passes
/// through to PostgreSQL unchanged.
pub fn unit_kind(name: &str) -> Option<UnitKind> {
    const SIZES: &[&str] = &[
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "effective_cache_size",
        "temp_buffers",
        "wal_buffers",
        "max_wal_size",
        "min_wal_size",
        "wal_keep_size",
        "temp_file_limit",
        "logical_decoding_work_mem",
        "autovacuum_work_mem",
    ];
    const DURATIONS: &[&str] = &[
        "checkpoint_timeout",
        "wal_sender_timeout",
        "wal_receiver_timeout",
        "wal_receiver_status_interval",
        "wal_retrieve_retry_interval",
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "idle_session_timeout",
        "max_standby_streaming_delay",
        "max_standby_archive_delay",
        "archive_timeout",
        "authentication_timeout",
        "tcp_keepalives_idle",
        "tcp_keepalives_interval",
        "log_min_duration_statement",
        "deadlock_timeout",
    ];
    if SIZES.contains(&name) {
        Some(UnitKind::Size)
    } else if DURATIONS.contains(&name) {
        Some(UnitKind::Duration)
    } else {
        None
    }
}

/// Settings that mirrorset writes itself, with where the file says it instead.
pub fn managed_by_mirrorset(name: &str) -> Option<&'static str> {
    Some(match name {
        "primary_conninfo" | "primary_slot_name" | "recovery_target_timeline" => {
            "mirrorset writes it on every mirror from [replication] and the node's slot"
        }
        "promote_trigger_file" => {
            "mirrorset promotes through pg_promote(); change [cluster] primary instead"
        }
        "max_slot_wal_keep_size" => "set [replication] max_slot_wal_keep_size instead",
        "port" => "set the node's postgres.port instead",
        "unix_socket_directories" => "set the node's postgres.socket_dir instead",
        "data_directory" | "config_file" | "hba_file" | "ident_file" => {
            "mirrorset reads it from the node's postgres paths; set postgres.data_dir or postgres.config_dir instead"
        }
        "ssl" | "ssl_cert_file" | "ssl_key_file" | "ssl_ca_file" => {
            "mirrorset writes it from [replication] transport and the nodes' tls files"
        }
        _ => return None,
    })
}

/// Whether `name` has the shape of a PostgreSQL setting name
/// (`[a-z_][a-z0-9_]*`, with one optional `prefix.` for extensions).
/// Whether a postgresql.conf line can carry this text as a quoted value:
/// PostgreSQL reads one value per line, so no line break, NUL or other
/// control character. validate refuses the rest at its span.
pub fn config_can_carry(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

pub fn is_setting_name(name: &str) -> bool {
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match name.split_once('.') {
        None => part_ok(name),
        Some((prefix, rest)) => part_ok(prefix) && part_ok(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_postgresql_conf() {
        assert_eq!(SettingValue::Bool(true).to_string(), "on");
        assert_eq!(SettingValue::Integer(200).to_string(), "200");
        assert_eq!(SettingValue::Float(0.9).to_string(), "0.9");
        assert_eq!(SettingValue::String("it's".into()).to_string(), "'it''s'");
        assert_eq!(SettingValue::String("a\\b".into()).to_string(), "'a\\\\b'");
    }

    #[test]
    fn setting_names() {
        assert!(is_setting_name("max_connections"));
        assert!(is_setting_name("pg_stat_statements.max"));
        assert!(!is_setting_name("Max_Connections"));
        assert!(!is_setting_name("a.b.c"));
        assert!(!is_setting_name("1abc"));
        assert!(!is_setting_name(""));
    }
}
