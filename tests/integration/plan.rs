//! `mirrorset plan` on real loopback hosts: the full bootstrap of a fresh
//! cluster, nothing changed on any node, no passphrase anywhere, and a
//! saved plan that `show` renders the same.

use std::process::Command;

use crate::hosts::TestHosts;
use crate::test::{Test, flatten};

const PASSPHRASE: &str = "Plan-Test-Passphrase-7b1e";

/// Everything plan could touch: file hashes under the hosts' folders and the SQL state of node1.
fn node_state(hosts: &TestHosts) -> String {
    let files = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find node* -type f ! -name '*.log' ! -path '*/pg_stat_tmp/*' ! -path '*/pg_wal/*' ! -path '*/pg_xact/*' ! -path '*/base/*' ! -path '*/global/*' ! -path '*/ssh/*' ! -name 'postmaster.pid' | sort | xargs sha256sum")
        .arg("sh")
        .arg(&hosts.dir)
        .output()
        .unwrap();
    let sql = Command::new("runuser")
        .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-XAtq", "-h"])
        .arg(hosts.dir.join("node1/run"))
        .args([
            "-d",
            "postgres",
            "-c",
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles; \
             SELECT count(*) FROM pg_replication_slots; \
             SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE pending_restart OR source = 'configuration file';",
        ])
        .output()
        .unwrap();
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&files.stdout),
        String::from_utf8_lossy(&sql.stdout)
    )
}

#[test]
fn plan_on_fresh_hosts_shows_the_bootstrap_and_changes_nothing() {
    let hosts = TestHosts::up(29, 3);
    let file = hosts.cluster_file();
    let file = file.to_str().unwrap();
    let saved = hosts.dir.join("plan.json");
    let before = node_state(&hosts);

    let output = Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .args([
            "plan",
            file,
            "--detailed-exitcode",
            "--out",
            saved.to_str().unwrap(),
        ])
        .status(2)
        .run();
    for expected in [
        "node1 127.0.29.1: primary -> primary",
        "node2 127.0.29.2: empty -> mirror of node1",
        "node3 127.0.29.3: empty -> mirror of node1",
        "+include_if_exists = 'mirrorset.conf'",
        "+host    replication replicator 127.0.29.2/32 scram-sha-256   # node2",
        "> restart\n        listen_addresses, wal_log_hints changed (postmaster context: needs a restart)",
        "+ role replicator: CREATE ROLE \"replicator\" LOGIN REPLICATION NOSUPERUSER CONNECTION LIMIT 10 PASSWORD (sensitive)",
        "+ sql: SELECT pg_create_physical_replication_slot('node2', true)",
        "with slot node3: pg_basebackup -X stream -c fast",
        "> wait until streaming from node1",
        "Plan: 20 to add, 6 to change, 0 to remove; 1 restart.",
    ] {
        assert!(
            output.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            output.stdout
        );
    }
    assert_eq!(
        node_state(&hosts),
        before,
        "plan changed something on a node"
    );

    let saved_text = std::fs::read_to_string(&saved).unwrap();
    for text in [&output.stdout, &output.stderr, &saved_text] {
        assert!(!text.contains(PASSPHRASE), "the passphrase leaked");
    }
    let plan: serde_json::Value = serde_json::from_str(&saved_text).unwrap();
    assert_eq!(plan["format_version"], 2);
    assert_eq!(plan["summary"]["restarts"], 1);
    // A plan of an older format is refused by its version, not by a field.
    let older = hosts.dir.join("older-plan.json");
    std::fs::write(
        &older,
        saved_text.replacen("\"format_version\": 2", "\"format_version\": 1", 1),
    )
    .unwrap();
    let refused = Test::new()
        .args(["show", older.to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        refused
            .stderr
            .contains("is a plan of format 1, this mirrorset reads format 2"),
        "{}",
        refused.stderr
    );
    // A schedule that leaves a step out is refused before anything runs.
    let mut unscheduled = plan.clone();
    unscheduled["schedule"] = serde_json::json!([]);
    std::fs::write(&older, unscheduled.to_string()).unwrap();
    let refused = Test::new()
        .args(["show", older.to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        flatten(&refused.stderr)
            .contains("has a schedule apply cannot follow: step 1 is not scheduled"),
        "{}",
        refused.stderr
    );

    // `show` renders the saved plan exactly as `plan` did (the plan's own text, without the save note).
    let shown = Test::new().args(["show", saved.to_str().unwrap()]).run();
    assert!(
        output.stdout.starts_with(&shown.stdout),
        "show differs:\n{}",
        shown.stdout
    );

    // JSON to stdout is the same plan.
    let json = Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .args(["plan", file, "--json"])
        .run();
    let printed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(printed["actions"], plan["actions"]);

    // --target limits the plan, and says so.
    let targeted = Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .args(["plan", file, "--target", "node3", "--detailed-exitcode"])
        .status(2)
        .run();
    assert!(
        targeted
            .stdout
            .contains("--target node3: only node3 planned"),
        "{}",
        targeted.stdout
    );
    assert!(
        targeted
            .stdout
            .contains("node1 127.0.29.1: primary -> primary  (no changes)"),
        "{}",
        targeted.stdout
    );
    assert_eq!(
        node_state(&hosts),
        before,
        "plan changed something on a node"
    );
}

#[test]
fn plan_with_an_unreachable_node_plans_the_rest_and_exits_1() {
    let hosts = TestHosts::up(30, 2);
    hosts.ctl("stop-sshd", 2);
    let output = Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .args([
            "plan",
            hosts.cluster_file().to_str().unwrap(),
            "--detailed-exitcode",
        ])
        .status(1)
        .run();
    assert!(
        output
            .stdout
            .contains("node2 127.0.30.2: unreachable -> mirror of node1"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("x node2: unreachable (cannot connect to SSH at 127.0.30.2:22"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("[1] + write "),
        "the reachable primary is still planned:\n{}",
        output.stdout
    );
}

#[test]
fn plan_without_the_passphrase_says_which_variable_is_missing() {
    let hosts = TestHosts::up(31, 1);
    let output = Test::new()
        .env_remove("MIRRORSET_TEST_PASSPHRASE")
        .args(["plan", hosts.cluster_file().to_str().unwrap()])
        .status(1)
        .run();
    let flat = flatten(&output.stderr);
    assert!(flat.contains("secret::unavailable"), "{}", output.stderr);
    assert!(
        flat.contains("the environment variable MIRRORSET_TEST_PASSPHRASE that holds the replication passphrase is not set"),
        "{}",
        output.stderr
    );
}

/// A passphrase libpq's passfile cannot carry is refused when it is read,
/// before any node is contacted (issue 12, case 2): a file source loses
/// exactly one trailing newline, so a second one is refused too.
#[test]
fn a_passphrase_with_a_line_break_is_refused_before_any_node_is_contacted() {
    let dir = std::env::temp_dir().join(format!("mirrorset-linebreak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let passphrase = dir.join("passphrase");
    std::fs::write(&passphrase, "s3cret\n\n").unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // Nodes nobody listens on: contacting one would fail differently.
    let text = std::fs::read_to_string("examples/minimal/cluster.toml")
        .unwrap()
        .replace(
            "passphrase             = { env = \"MINIMAL_REPL_PASSPHRASE\" }",
            &format!(
                "passphrase             = {{ file = \"{}\" }}",
                passphrase.display()
            ),
        )
        .replace("#:schema ../../schemas/cluster.schema.json\n", "");
    assert!(text.contains("{ file = "), "{text}");
    let file = dir.join("cluster.toml");
    std::fs::write(&file, text).unwrap();
    let output = Test::new()
        .args(["plan", file.to_str().unwrap()])
        .status(1)
        .run();
    let flat = flatten(&output.stderr);
    assert!(
        flat.contains("holds a line break, which libpq's passfile cannot carry"),
        "{}",
        output.stderr
    );
    assert_eq!(output.stdout, "", "a node was planned");
    let output = Test::new()
        .env("MINIMAL_REPL_PASSPHRASE", "inner\nbreak")
        .args(["plan", "examples/minimal/cluster.toml"])
        .status(1)
        .run();
    assert!(
        flatten(&output.stderr)
            .contains("the environment variable MINIMAL_REPL_PASSPHRASE holds a line break"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("inner"), "{}", output.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A data directory the PostgreSQL user cannot read is neither "empty"
/// nor touched: plan and check name its owner and mode (issue 12, case 11).
#[test]
fn a_data_directory_postgres_cannot_read_is_named_not_called_empty() {
    let hosts = TestHosts::up(58, 2);
    let data = hosts.dir.join("node2/data");
    let chown = |owner: &str, mode: &str| {
        for (program, arg) in [("chown", owner), ("chmod", mode)] {
            let status = std::process::Command::new(program)
                .arg(arg)
                .arg(&data)
                .status()
                .unwrap();
            assert!(status.success());
        }
    };
    chown("root:root", "700");
    let file = hosts.cluster_file();
    let output = Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", "unreadable-test")
        .args(["plan", file.to_str().unwrap()])
        .status(1)
        .run();
    let flat = flatten(&output.stdout);
    assert!(
        flat.contains(&format!(
            "node2: {} is owned by root with mode 700: postgres cannot look inside",
            data.display()
        )) && !flat.contains("clone"),
        "{}",
        output.stdout
    );
    let check = Test::new()
        .args(["check", file.to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        check
            .stdout
            .contains("node2: the PostgreSQL user cannot read its data directory"),
        "{}",
        check.stdout
    );
    chown("postgres:postgres", "700");
    Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", "unreadable-test")
        .args(["apply", file.to_str().unwrap(), "--auto-approve"])
        .run();
    Test::new()
        .env("MIRRORSET_TEST_PASSPHRASE", "unreadable-test")
        .args(["plan", file.to_str().unwrap(), "--detailed-exitcode"])
        .run();
}
