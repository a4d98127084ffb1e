//! mirrorset.conf, the one configuration file mirrorset owns, rendered
//! deterministically; and the include line it adds to postgresql.conf. Pure.

use std::collections::BTreeMap;

use super::DesiredRole;
use crate::model::{Cluster, Node, SettingValue};

pub const MIRRORSET_CONF: &str = "mirrorset.conf";
pub const INCLUDE_LINE: &str = "include_if_exists = 'mirrorset.conf'";

/// Settings mirrorset writes, in the order the file lists them; the operator's
/// `[settings]` follow in name order.
pub const MANAGED_SETTINGS: [&str; 16] = [
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "wal_log_hints",
    "hot_standby",
    "max_slot_wal_keep_size",
    "primary_conninfo",
    "primary_slot_name",
    "recovery_target_timeline",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_key_file",
];

pub fn render(
    cluster: &Cluster,
    node: &Node,
    role: DesiredRole,
    settings: &BTreeMap<String, SettingValue>,
) -> String {
    let role_line = match role {
        DesiredRole::Primary => "primary".to_owned(),
        DesiredRole::Mirror => format!("read-only mirror of {}", cluster.primary),
        DesiredRole::Standalone => "standalone".to_owned(),
        DesiredRole::Absent => "absent".to_owned(),
    };
    let mut out = format!(
        "# Managed by mirrorset: cluster {}, node {} ({role_line}).\n\
         # Written from {}; edits here are overwritten. Change the cluster file instead.\n",
        cluster.name,
        node.name,
        cluster
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let mut line = |name: &str, value: &SettingValue| out.push_str(&format!("{name} = {value}\n"));
    for name in MANAGED_SETTINGS {
        if let Some(value) = settings.get(name) {
            line(name, value);
        }
    }
    for (name, value) in settings
        .iter()
        .filter(|(name, _)| !MANAGED_SETTINGS.contains(&name.as_str()))
    {
        line(name, value);
    }
    out
}

/// Whether postgresql.conf already includes mirrorset.conf (any include form).
pub fn include_line_present(postgresql_conf: &str) -> bool {
    postgresql_conf.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        (line.starts_with("include_if_exists") || line.starts_with("include"))
            && (line.contains("'mirrorset.conf'") || line.ends_with("mirrorset.conf"))
    })
}

/// postgresql.conf with the include line appended, once, at the end, so
/// mirrorset.conf wins over earlier lines (postgresql.auto.conf still wins over both).
pub fn with_include_line(postgresql_conf: &str) -> String {
    if include_line_present(postgresql_conf) {
        return postgresql_conf.to_owned();
    }
    let mut out = postgresql_conf.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("\n# Added by mirrorset: replication settings from the cluster file.\n");
    out.push_str(INCLUDE_LINE);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_line_is_added_once() {
        let once = with_include_line("port = 5432");
        assert!(once.ends_with("port = 5432\n\n# Added by mirrorset: replication settings from the cluster file.\ninclude_if_exists = 'mirrorset.conf'\n"));
        assert_eq!(with_include_line(&once), once);
        assert!(include_line_present("include 'mirrorset.conf' # by hand"));
        assert!(!include_line_present(
            "#include_if_exists = 'mirrorset.conf'"
        ));
    }
}
