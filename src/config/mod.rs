//! The cluster file: read it, check every rule, and produce a `Cluster`.
//! Input: a path (or text). Output: `Cluster`, or `InvalidClusterFile` with
//! every problem found. I/O: reading the file and checking that local files
//! it names exist; never any network.

mod certificates;
mod edit;
mod file;
mod invalid;
mod problem;
mod reader;
mod reference;
mod rule;
mod schema;
mod spanned;
mod validate;

use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

pub use certificates::{
    CertificateError, CertificateProblem, InvalidCertificates, check_certificate, expiry_warnings,
    load_tls,
};
pub use edit::with_primary;
pub use file::ClusterFile;
pub use invalid::InvalidClusterFile;
pub use problem::Problem;
pub use reference::{REFERENCE_PATH, reference_markdown};
pub use rule::Rule;
pub use schema::{SCHEMA_PATH, cluster_schema_json};
pub use spanned::Spanned;

use crate::model::Cluster;

/// Reads and validates the cluster file at `path`.
pub fn load(path: &Path) -> Result<Cluster, InvalidClusterFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, text),
        Err(error) => Err(InvalidClusterFile::new(
            path,
            vec![
                Problem::new(
                    Rule::Unreadable,
                    format!("cannot read {}: {error}", path.display()),
                )
                .help("give the path of a cluster.toml, a folder holding one, or a glob"),
            ],
        )),
    }
}

/// Validates `text` as the cluster file at `path` (local paths it names are relative to its folder).
pub fn parse(path: &Path, text: String) -> Result<Cluster, InvalidClusterFile> {
    let mut problems = Vec::new();
    let cluster = match toml_edit::Document::parse(text.as_str()) {
        Ok(document) => {
            let file = reader::read_document(&document, &mut problems);
            validate::validate(file, path, &mut problems)
        }
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            problems.push(
                Problem::new(
                    Rule::TomlSyntax,
                    format!("{} is not valid TOML", path.display()),
                )
                .at(span, error.message().trim_end().to_owned())
                .help(
                    "see https://toml.io for the syntax; each table and key may appear only once",
                ),
            );
            None
        }
    };
    if problems.is_empty() {
        if let Some(cluster) = cluster {
            return Ok(cluster);
        }
    }
    let source = NamedSource::new(
        path.display().to_string(),
        Arc::new(masked_secrets(text, &problems)),
    );
    Err(InvalidClusterFile::new(
        path,
        problems
            .into_iter()
            .map(|problem| problem.in_source(source.clone()))
            .collect(),
    ))
}

/// The file's text with every literal passphrase replaced by `*`, byte for
/// byte so spans stay right: diagnostics quote source lines, and a secret
/// must not reach a terminal or a CI log even when it was put in the file.
fn masked_secrets(text: String, problems: &[Problem]) -> String {
    let mut bytes = text.into_bytes();
    for problem in problems
        .iter()
        .filter(|p| p.rule() == Rule::LiteralPassphrase)
    {
        if let Some(span) = problem.span() {
            // Keep the quotes so the line still reads as TOML.
            let inner = span.start + 1..span.end.saturating_sub(1);
            for byte in bytes.get_mut(inner).into_iter().flatten() {
                *byte = b'*';
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NodeState, ServiceControl};

    const FILE: &str = r#"
[cluster]
name = "t"
primary = "db-1"

[replication]
user = "replicator"
passphrase = { env = "T_PASS" }
max_slot_wal_keep_size = "1GB"

[settings]
max_connections = 100

[defaults]
ssh = { user = "ops", port = 2200, key = "keys/id" }
postgres = { data_dir = "/srv/pg/data", service = "systemd:pg" }

[nodes.db-1]
host = "10.0.0.1"

[nodes.db-2]
host = "10.0.0.2"
ssh = { port = 22 }
settings = { max_connections = 300, work_mem = "8MB" }

[nodes.db-3]
host = "10.0.0.3"
state = "absent"
"#;

    #[test]
    fn defaults_apply_field_by_field_and_nodes_override_them() {
        let cluster = parse(Path::new("clusters/t/cluster.toml"), FILE.to_owned()).unwrap();
        let [db1, db2, db3] = &cluster.nodes[..] else {
            panic!()
        };
        assert_eq!(
            (db1.ssh.user.as_deref(), db1.ssh.port),
            (Some("ops"), Some(2200))
        );
        assert_eq!(
            (db2.ssh.user.as_deref(), db2.ssh.port),
            (Some("ops"), Some(22))
        );
        // What the file leaves open stays open: ssh_config decides it at connection.
        assert_eq!(db3.ssh.known_hosts, None);
        assert_eq!(
            db1.ssh.key.as_deref(),
            Some(Path::new("clusters/t/keys/id"))
        );
        assert_eq!(db1.ssh.host, "10.0.0.1");
        assert_eq!(db1.postgres.data_dir, "/srv/pg/data");
        assert_eq!(db1.postgres.config_dir, "/etc/postgresql/15/main");
        assert_eq!(db1.postgres.state_dir, "/srv/pg/mirrorset-data");
        assert_eq!(
            db1.postgres.passfile,
            "/srv/pg/mirrorset-data/mirrorset.pgpass"
        );
        assert_eq!(
            db1.postgres.log_file,
            "/srv/pg/mirrorset-data/postgresql.log"
        );
        assert_eq!(
            db1.postgres.service,
            ServiceControl::Systemd { unit: "pg".into() }
        );
        assert_eq!(db1.slot.as_str(), "db_1");
        assert_eq!(db1.settings["max_connections"].to_string(), "100");
        assert_eq!(db2.settings["max_connections"].to_string(), "300");
        assert_eq!(db2.settings["work_mem"].to_string(), "'8MB'");
        assert_eq!(db3.state, NodeState::Absent);
    }

    /// A cluster file's head, for the nodes of the Debian layout tests.
    const DEBIAN_HEAD: &str = r#"
[cluster]
name = "debian"
primary = "a"
[replication]
user = "replicator"
passphrase = { env = "X" }
max_slot_wal_keep_size = "1GB"
"#;

    #[test]
    fn clusters_side_by_side_on_one_machine_keep_their_files_apart_by_default() {
        let text = DEBIAN_HEAD.to_owned()
            + r#"
[nodes.a]
host = "10.0.0.11"
postgres = { port = 5432, data_dir = "/var/lib/postgresql/15/a" }
[nodes.b]
host = "10.0.0.11"
postgres = { port = 5433, data_dir = "/var/lib/postgresql/15/b" }
"#;
        let cluster = parse(Path::new("t.toml"), text).unwrap();
        let [a, b] = &cluster.nodes[..] else { panic!() };
        assert_eq!(a.postgres.state_dir, "/var/lib/postgresql/15/mirrorset-a");
        assert_eq!(
            b.postgres.passfile,
            "/var/lib/postgresql/15/mirrorset-b/mirrorset.pgpass"
        );
        // Debian's layout follows from the data dir: pg_createcluster's
        // config dir, pg_ctlcluster, and the log pg_lsclusters names.
        assert_eq!(b.postgres.config_dir, "/etc/postgresql/15/b");
        assert_eq!(b.postgres.bin_dir, "/usr/lib/postgresql/15/bin");
        assert_eq!(
            b.postgres.service,
            ServiceControl::PgCtlCluster {
                major: "15".into(),
                cluster: "b".into()
            }
        );
        assert_eq!(
            b.postgres.log_file,
            "/var/log/postgresql/postgresql-15-b.log"
        );
    }

    #[test]
    fn a_debian_config_dir_gives_its_major_and_cluster_to_the_rest() {
        let text = DEBIAN_HEAD.to_owned()
            + r#"
[nodes.a]
host = "10.0.0.11"
postgres = { config_dir = "/etc/postgresql/18/app" }
[nodes.b]
host = "10.0.0.12"
postgres = { config_dir = "/srv/pg/etc", data_dir = "/srv/pg/data" }
[nodes.c]
host = "10.0.0.13"
postgres = { config_dir = "/srv/pg/etc", data_dir = "/var/lib/postgresql/16/main" }
"#;
        let cluster = parse(Path::new("t.toml"), text).unwrap();
        let [a, b, c] = &cluster.nodes[..] else {
            panic!()
        };
        assert_eq!(a.postgres.data_dir, "/var/lib/postgresql/18/app");
        // A Debian data dir gives its major to the binaries, whatever the config dir.
        assert_eq!(c.postgres.bin_dir, "/usr/lib/postgresql/16/bin");
        assert_eq!(c.postgres.service, ServiceControl::PgCtl);
        assert_eq!(a.postgres.bin_dir, "/usr/lib/postgresql/18/bin");
        assert_eq!(
            a.postgres.service,
            ServiceControl::PgCtlCluster {
                major: "18".into(),
                cluster: "app".into()
            }
        );
        // Not Debian's layout: pg_ctl, logging into the state folder.
        assert_eq!(b.postgres.service, ServiceControl::PgCtl);
        assert_eq!(b.postgres.log_file, "/srv/pg/mirrorset-data/postgresql.log");
    }

    #[test]
    fn connection_limit_defaults_to_the_wal_sender_budget() {
        let cluster = parse(Path::new("t.toml"), FILE.to_owned()).unwrap();
        assert_eq!(cluster.replication.connection_limit, 10);
        assert_eq!(
            cluster
                .mirrors()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["db-2"]
        );
    }

    #[test]
    fn problems_come_in_file_order_with_stable_codes() {
        let text = FILE
            .replace("\"10.0.0.3\"", "\"10.0.0.2\"")
            .replace("\"1GB\"", "\"1 gigabyte\"");
        let invalid = parse(Path::new("t.toml"), text).unwrap_err();
        let codes: Vec<_> = invalid.problems().iter().map(|p| p.rule().code()).collect();
        assert_eq!(codes, ["config::invalid_size", "config::duplicate_host"]);
    }
}
