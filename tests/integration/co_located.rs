//! Two members of one cluster on one machine, as Debian's pg_createcluster
//! lays them out (data directories side by side under one parent), with
//! every mirrorset path left to its default: each gets its own state folder,
//! passfile, lock and log, the clone runs on its own port, and the plan is
//! empty after one apply.

use std::os::unix::fs::PermissionsExt;

use crate::apply::{assert_converged, mirrorset, wait_replayed};
use crate::hosts::TestHosts;

#[test]
fn clusters_side_by_side_on_one_machine_keep_their_files_apart() {
    let hosts = TestHosts::up(73, 2);
    let dir = hosts.dir.display().to_string();
    let mut toml = hosts.cluster_toml();
    // node1 keeps its server but takes the default state folder.
    let explicit =
        format!(", state_dir = \"{dir}/node1\", passfile = \"{dir}/node1/mirrorset.pgpass\"");
    assert!(toml.contains(&explicit), "{toml}");
    toml = toml.replace(&explicit, "");
    // The second member lives on node1's machine too: node1/b beside node1/data,
    // port 5433, configured from the config folder the harness made for node2.
    let second = toml.find("\n[nodes.node2]").unwrap();
    toml.truncate(second);
    let b_data = format!("{dir}/node1/b");
    let b_etc = format!("{dir}/node2/etc");
    let conf_path = format!("{b_etc}/postgresql.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let conf = conf.replace(
        &format!("data_directory = '{dir}/node2/data'"),
        &format!("data_directory = '{b_data}'"),
    );
    assert!(conf.contains(&b_data), "{conf}");
    std::fs::write(&conf_path, conf).unwrap();
    toml.push_str(&format!(
        "\n[nodes.node1b]\nhost     = \"127.0.73.1\"\npostgres = {{ port = 5433, data_dir = \"{b_data}\", config_dir = \"{b_etc}\", socket_dir = \"{dir}/node1/run\" }}\n"
    ));
    std::fs::write(hosts.cluster_file(), &toml).unwrap();

    mirrorset(&hosts, &["validate", "FILE"], 0);
    let output = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(output.stdout.contains("node1b: clone"), "{}", output.stdout);
    assert_converged(&hosts);
    wait_replayed(
        &hosts,
        1,
        "SELECT string_agg(application_name || ' ' || state, ',') FROM pg_stat_replication",
        "node1b streaming",
    );
    for (state, port) in [("mirrorset-data", 5432), ("mirrorset-b", 5433)] {
        let folder = hosts.dir.join("node1").join(state);
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
        let passfile = folder.join("mirrorset.pgpass");
        assert_eq!(
            std::fs::metadata(&passfile).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(folder.join("mirrorset-audit.jsonl").exists());
        assert!(!folder.join("mirrorset.lock").exists(), "a lock was left");
        let record = std::fs::read_to_string(folder.join("mirrorset-owned.json")).unwrap();
        assert!(record.contains(&passfile.display().to_string()), "{record}");
        if port == 5433 {
            // The clone runs on the port the file names, not the primary's.
            assert!(folder.join("postgresql.log").exists());
        }
    }
    let mirror_port = std::process::Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/psql",
            "-XAtq",
            "-p",
            "5433",
            "-d",
            "postgres",
            "-h",
        ])
        .arg(hosts.dir.join("node1/run"))
        .args([
            "-c",
            "SELECT current_setting('port') || ' ' || pg_is_in_recovery()",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&mirror_port.stdout).trim(),
        "5433 true"
    );
}
