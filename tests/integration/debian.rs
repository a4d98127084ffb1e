//! Debian's own clusters (issue 14): three made with `pg_createcluster` on
//! one machine, on different ports, named in the cluster file by their
//! config dir and port only: no service, data dir, passfile or log. The
//! defaults follow Debian (pg_ctlcluster, the log pg_lsclusters names, each
//! cluster's files apart), and `pg_lsclusters` tells the truth throughout.

use std::process::Command;

use crate::apply::mirrorset_on;
use crate::hosts::{TestHosts, run};
use crate::test::Output;

const PASSPHRASE: &str = "debian-test-passphrase";
const NAMES: [&str; 3] = ["e2e88a", "e2e88b", "e2e88c"];
const PORTS: [u16; 3] = [5481, 5482, 5483];

/// Drops the test's Debian clusters and what mirrorset left beside them.
fn drop_clusters() {
    for name in NAMES {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", "15", name])
            .output();
        let _ = Command::new("sh")
            .args([
                "-c",
                "rm -rf /var/lib/postgresql/15/\"$1\".mirrorset-moved-* /var/lib/postgresql/15/mirrorset-\"$1\"",
                "sh",
                name,
            ])
            .output();
    }
}

/// Drops the clusters when the test ends, passed or not.
struct Clusters;

impl Drop for Clusters {
    fn drop(&mut self) {
        drop_clusters();
    }
}

/// pg_lsclusters' line for a cluster: port, status, data dir, log file.
fn listed(name: &str) -> (String, String, String, String) {
    let text = run(Command::new("pg_lsclusters").args(["--no-header", "15", name]));
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.len(), 7, "{text}");
    (
        fields[2].to_owned(),
        fields[3].to_owned(),
        fields[5].to_owned(),
        fields[6].to_owned(),
    )
}

fn assert_listed_as(primary: usize) {
    for (index, name) in NAMES.iter().enumerate() {
        let (port, status, data_dir, log) = listed(name);
        let expected = if index == primary {
            "online"
        } else {
            "online,recovery"
        };
        assert_eq!(port, PORTS[index].to_string(), "{name}");
        assert_eq!(status, expected, "{name}");
        assert_eq!(data_dir, format!("/var/lib/postgresql/15/{name}"));
        assert_eq!(log, format!("/var/log/postgresql/postgresql-15-{name}.log"));
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            !log.is_empty(),
            "{name}'s server logs where pg_lsclusters says"
        );
    }
}

fn mirrorset(file: &std::path::Path, args: &[&str], status: i32) -> Output {
    mirrorset_on(
        file,
        &[("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)],
        args,
        status,
    )
}

/// Plan finds nothing to do.
fn assert_converged(file: &std::path::Path) {
    let converged = mirrorset(file, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        converged.stdout.contains("No changes"),
        "{}",
        converged.stdout
    );
}

#[test]
fn clusters_made_by_pg_createcluster_get_debians_defaults() {
    let hosts = TestHosts::up(88, 1);
    hosts.ctl("stop-pg", 1);
    drop_clusters();
    let _clusters = Clusters;
    for (name, port) in NAMES.iter().zip(PORTS) {
        run(Command::new("pg_createcluster").args([
            "15",
            name,
            "-p",
            &port.to_string(),
            "--",
            "--auth-local=peer",
        ]));
    }
    run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "pg_ctlcluster",
        "15",
        NAMES[0],
        "start",
    ]));
    run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "psql",
        "-p",
        "5481",
        "-c",
        "CREATE TABLE kept AS SELECT generate_series(1, 1000) AS id",
    ]));

    let base = hosts.cluster_toml();
    let head = &base[..base.find("\n[nodes.node1]").unwrap()];
    let mut toml = head.replace("primary = \"node1\"", "primary = \"a\"");
    // The harness's PostgreSQL is not Debian's: no [defaults.postgres].
    let start = toml.find("[defaults.postgres]").unwrap();
    toml.truncate(start);
    for ((node, name), port) in ["a", "b", "c"].iter().zip(NAMES).zip(PORTS) {
        toml.push_str(&format!(
            "\n[nodes.{node}]\nhost     = \"{}\"\npostgres = {{ config_dir = \"/etc/postgresql/15/{name}\", port = {port} }}\n",
            hosts.addr(1)
        ));
    }
    // c logs in as root: pg_ctlcluster then runs as root (and would hand
    // over to systemctl where systemd runs the cluster).
    toml.push_str("ssh      = { user = \"root\" }\n");
    let file = hosts.dir.join("debian.toml");
    std::fs::write(&file, &toml).unwrap();

    mirrorset(&file, &["validate", "FILE"], 0);
    let plan = mirrorset(&file, &["plan", "FILE"], 0);
    for name in &NAMES[1..] {
        assert!(
            plan.stdout.contains(&format!(
                "move /var/lib/postgresql/15/{name} aside, then clone"
            )),
            "a fresh pg_createcluster is moved aside:\n{}",
            plan.stdout
        );
    }
    mirrorset(&file, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&file);
    assert_listed_as(0);
    let rows = run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "psql",
        "-p",
        "5483",
        "-Atc",
        "SELECT count(*) FROM kept",
    ]));
    assert_eq!(rows.trim(), "1000");
    // Each cluster keeps mirrorset's files apart; the fresh ones were moved aside, not deleted.
    for name in NAMES {
        let state = format!("/var/lib/postgresql/15/mirrorset-{name}");
        assert!(
            std::path::Path::new(&format!("{state}/mirrorset.pgpass")).exists(),
            "{state}"
        );
    }
    for name in &NAMES[1..] {
        let moved = run(Command::new("sh").args([
            "-c",
            "ls -d /var/lib/postgresql/15/\"$1\".mirrorset-moved-*",
            "sh",
            name,
        ]));
        assert_eq!(moved.lines().count(), 1, "{name}");
    }

    // A switchover: pg_lsclusters follows it.
    mirrorset(&file, &["promote", "b", "FILE", "--no-plan"], 0);
    mirrorset(&file, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&file);
    assert_listed_as(1);
}
