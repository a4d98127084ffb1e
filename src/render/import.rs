//! A running cluster as `import` found it, written as a commented cluster
//! file: what was found in, TOML text out, every value through toml_edit.
//! The passphrase is a reference the operator fills in; no password found
//! on a node is ever written. Pure.

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value, value};

use crate::model::DebianCluster;

/// What import found, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub cluster: String,
    /// How the primary was reached, for the header: `postgres@10.0.0.1`.
    pub source: String,
    pub primary: String,
    pub replication_user: String,
    /// The variable the operator sets to the replication role's password.
    pub passphrase_env: String,
    /// The primary's max_slot_wal_keep_size; None when it has no limit.
    pub max_slot_wal_keep_size: Option<String>,
    pub ssh_user: Option<String>,
    pub nodes: Vec<ImportedNode>,
    /// Worth a comment at the top: what import saw and left alone.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedNode {
    pub name: String,
    /// The address the other members reach it at.
    pub host: String,
    /// Where import logged in, when it is not `host`.
    pub ssh_host: Option<String>,
    /// The slot it streams through, when not the default (its name).
    pub slot: Option<String>,
    pub data_dir: String,
    pub config_dir: String,
    pub bin_dir: String,
    pub port: u16,
    pub socket_dir: Option<String>,
    pub log_file: Option<String>,
    /// `systemd:<unit>`, when it runs in one.
    pub service: Option<String>,
    /// Its own listen_addresses, kept when it already lets the members in.
    pub listen_addresses: Option<String>,
    /// The SSH port import logged in at, when given.
    pub ssh_port: Option<u16>,
}

/// Debian's cluster for `config_dir`, when data and bin dirs are its own:
/// then the config dir alone says it all.
fn debian_default(node: &ImportedNode) -> bool {
    DebianCluster::from_config_dir(&node.config_dir).is_some_and(|cluster| {
        cluster.data_dir() == node.data_dir && cluster.bin_dir() == node.bin_dir
    })
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

fn comment_before(item: &mut Table, text: &str) {
    let prefix: String = text.lines().map(|line| format!("# {line}\n")).collect();
    item.decor_mut().set_prefix(format!("\n{prefix}"));
}

pub fn cluster_file(imported: &Imported) -> String {
    let mut document = DocumentMut::new();

    let mut cluster = Table::new();
    cluster.insert("name", value(&imported.cluster));
    cluster.insert("primary", value(&imported.primary));
    let mut header = format!(
        "Imported by `mirrorset import {}`: review every value before the first\napply. `mirrorset plan` on this file should show only the takeover:\nmirrorset.conf and the managed pg_hba block added, the passfile in place of\na password in primary_conninfo; no clone.",
        imported.source
    );
    for note in &imported.notes {
        header.push_str(&format!("\n\n{}", wrap(note, 76)));
    }
    let prefix: String = header
        .lines()
        .map(|line| format!("# {line}\n").replace("# \n", "#\n"))
        .collect();
    cluster.decor_mut().set_prefix(format!("{prefix}\n"));
    document.insert("cluster", Item::Table(cluster));

    let mut replication = Table::new();
    replication.insert("user", value(&imported.replication_user));
    let mut passphrase = InlineTable::new();
    passphrase.insert("env", Value::from(imported.passphrase_env.as_str()));
    replication.insert("passphrase", value(passphrase));
    let keep = imported
        .max_slot_wal_keep_size
        .clone()
        .unwrap_or_else(|| "10GB".to_owned());
    replication.insert("max_slot_wal_keep_size", value(keep));
    let mut words = format!(
        "The replication role's password is never written here, nor copied from a\nmirror's primary_conninfo: set {} to it before plan (or use\n{{ file = \"...\" }} or {{ command = [...] }}).",
        imported.passphrase_env
    );
    if imported.max_slot_wal_keep_size.is_none() {
        words.push_str(
            "\nThe primary keeps WAL for its slots without limit; mirrorset needs a\nlimit, so that a dead mirror cannot fill its disk: 10GB is a start.",
        );
    }
    comment_before(&mut replication, &words);
    document.insert("replication", Item::Table(replication));

    if let Some(user) = &imported.ssh_user {
        let mut ssh = Table::new();
        ssh.insert("user", value(user));
        let mut defaults = Table::new();
        defaults.set_implicit(true);
        defaults.insert("ssh", Item::Table(ssh));
        document.insert("defaults", Item::Table(defaults));
    }

    let mut nodes = Table::new();
    nodes.set_implicit(true);
    for node in &imported.nodes {
        let mut table = Table::new();
        table.insert("host", value(&node.host));
        if let Some(ssh_host) = &node.ssh_host {
            table.insert("ssh_host", value(ssh_host));
        }
        if let Some(slot) = &node.slot {
            table.insert("slot", value(slot));
        }
        if let Some(port) = node.ssh_port {
            let mut ssh = InlineTable::new();
            ssh.insert("port", Value::from(i64::from(port)));
            table.insert("ssh", value(ssh));
        }
        let mut postgres = InlineTable::new();
        if debian_default(node) {
            postgres.insert("config_dir", Value::from(node.config_dir.as_str()));
        } else {
            postgres.insert("data_dir", Value::from(node.data_dir.as_str()));
            postgres.insert("config_dir", Value::from(node.config_dir.as_str()));
            postgres.insert("bin_dir", Value::from(node.bin_dir.as_str()));
        }
        postgres.insert("port", Value::from(i64::from(node.port)));
        if let Some(socket_dir) = &node.socket_dir {
            postgres.insert("socket_dir", Value::from(socket_dir.as_str()));
        }
        if let Some(service) = &node.service {
            postgres.insert("service", Value::from(service.as_str()));
        } else if let Some(log_file) = node.log_file.as_ref().filter(|_| !debian_default(node)) {
            postgres.insert("log_file", Value::from(log_file.as_str()));
        }
        table.insert("postgres", value(postgres));
        if let Some(listen) = &node.listen_addresses {
            let mut settings = InlineTable::new();
            settings.insert("listen_addresses", Value::from(listen.as_str()));
            table.insert("settings", value(settings));
        }
        let role = if node.name == imported.primary {
            "the primary"
        } else {
            "a mirror"
        };
        comment_before(&mut table, &format!("{} ({role})", node.name));
        nodes.insert(&node.name, Item::Table(table));
    }
    document.insert("nodes", Item::Table(nodes));
    document.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, host: &str) -> ImportedNode {
        ImportedNode {
            name: name.into(),
            host: host.into(),
            ssh_host: None,
            slot: None,
            data_dir: "/opt/mfa/mfadb".into(),
            config_dir: "/opt/mfa/mfadb".into(),
            bin_dir: "/usr/lib/postgresql/15/bin".into(),
            port: 5432,
            socket_dir: Some("/tmp".into()),
            log_file: Some("/opt/mfa/mfadb/pg log.log".into()),
            service: None,
            listen_addresses: Some("*".into()),
            ssh_port: None,
        }
    }

    #[test]
    fn a_found_cluster_becomes_a_file_validate_accepts() {
        let mut primary = node("prod", "192.168.1.1");
        primary.ssh_port = Some(2222);
        let mut mirror = node("dr", "192.168.1.2");
        mirror.slot = Some("dr_slot".into());
        mirror.ssh_host = Some("dr-mgmt".into());
        let mut debian = node("db3", "192.168.1.3");
        debian.config_dir = "/etc/postgresql/15/main".into();
        debian.data_dir = "/var/lib/postgresql/15/main".into();
        debian.service = Some("systemd:postgresql@15-main".into());
        let imported = Imported {
            cluster: "mfa".into(),
            source: "postgres@192.168.1.1".into(),
            primary: "prod".into(),
            replication_user: "replicamfa".into(),
            passphrase_env: "MFA_REPL_PASSPHRASE".into(),
            max_slot_wal_keep_size: None,
            ssh_user: Some("postgres".into()),
            nodes: vec![primary, mirror, debian],
            notes: vec!["pg_hba.conf on prod has md5 lines for replicamfa: left alone.".into()],
        };
        let text = cluster_file(&imported);
        insta_free_assertions(&text);
        let cluster = crate::config::parse(std::path::Path::new("imported.toml"), text.clone())
            .unwrap_or_else(|problems| panic!("{problems:?}\n{text}"));
        assert_eq!(cluster.primary.as_str(), "prod");
        assert_eq!(
            (cluster.nodes[0].ssh.port, cluster.nodes[1].ssh.port),
            (Some(2222), None)
        );
        assert_eq!(cluster.nodes[1].slot.as_str(), "dr_slot");
        assert_eq!(
            cluster.nodes[0].postgres.log_file,
            "/opt/mfa/mfadb/pg log.log"
        );
        assert_eq!(
            cluster.nodes[2].postgres.data_dir,
            "/var/lib/postgresql/15/main"
        );
    }

    fn insta_free_assertions(text: &str) {
        for expected in [
            "# Imported by `mirrorset import postgres@192.168.1.1`",
            "# pg_hba.conf on prod has md5 lines for replicamfa: left alone.",
            "passphrase = { env = \"MFA_REPL_PASSPHRASE\" }",
            "max_slot_wal_keep_size = \"10GB\"",
            "# dr (a mirror)\n[nodes.dr]\nhost = \"192.168.1.2\"\nssh_host = \"dr-mgmt\"\nslot = \"dr_slot\"",
            "log_file = \"/opt/mfa/mfadb/pg log.log\"",
            "settings = { listen_addresses = \"*\" }",
            "postgres = { config_dir = \"/etc/postgresql/15/main\", port = 5432, socket_dir = \"/tmp\", service = \"systemd:postgresql@15-main\" }",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}
