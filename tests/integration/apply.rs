//! `mirrorset apply` on real loopback hosts, each scenario ending with an
//! empty plan (`plan --detailed-exitcode` exits 0).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::hosts::{Postgres, TestHosts};
use crate::test::{Output, StopOnDrop, Test, flatten};

pub const PASSPHRASE: &str = "Apply-Passphrase-4c2d-unique";

pub fn mirrorset(hosts: &TestHosts, args: &[&str], status: i32) -> Output {
    mirrorset_with(hosts, PASSPHRASE, args, status)
}

/// Runs mirrorset with `passphrase`; "FILE" in `args` is the hosts' cluster file.
pub fn mirrorset_with(hosts: &TestHosts, passphrase: &str, args: &[&str], status: i32) -> Output {
    mirrorset_on(
        &hosts.cluster_file(),
        &[("MIRRORSET_TEST_PASSPHRASE", passphrase)],
        args,
        status,
    )
}

/// Runs mirrorset with `env` set; "FILE" in `args` is `file`.
pub fn mirrorset_on(
    file: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
    status: i32,
) -> Output {
    let mut test = Test::new().status(status);
    for (name, value) in env {
        test = test.env(name, value);
    }
    for arg in args {
        test = test.args([if *arg == "FILE" {
            file.to_str().unwrap()
        } else {
            arg
        }]);
    }
    test.run()
}

/// `secret` is in the three nodes' 0600 passfiles and in no other file
/// under the hosts' folder (configuration, backups, audit, locks, logs).
pub fn assert_only_in_passfiles(hosts: &TestHosts, secret: &str) {
    let grep = Command::new("grep")
        .args(["-rl", secret])
        .arg(&hosts.dir)
        .output()
        .unwrap();
    let files: Vec<String> = String::from_utf8_lossy(&grep.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert!(
            file.ends_with("/mirrorset.pgpass"),
            "the passphrase is in {file}"
        );
        let mode = Command::new("stat")
            .args(["-c", "%a %U", file])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "600 postgres");
    }
}

/// A JSON plan's actions as "node kind target" (the last part of a path).
pub fn plan_steps(json: &str) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(json).unwrap();
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let target = a["path"]
                .as_str()
                .or(a["setting"].as_str())
                .or(a["slot"].as_str())
                .or(a["user"].as_str())
                .unwrap_or("");
            let target = target.rsplit('/').next().unwrap();
            format!(
                "{} {} {}",
                a["node"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
                target
            )
        })
        .collect()
}

pub fn assert_converged(hosts: &TestHosts) {
    let output = mirrorset(hosts, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        output
            .stdout
            .contains("No changes: the cluster matches the file."),
        "{}",
        output.stdout
    );
}

fn start_times(hosts: &TestHosts, count: u8) -> Vec<String> {
    (1..=count)
        .map(|host| hosts.psql(host, "SELECT pg_postmaster_start_time()"))
        .collect()
}

/// Waits until the mirror has replayed what the primary wrote.
pub fn wait_replayed(hosts: &TestHosts, mirror: u8, sql: &str, expected: &str) {
    for _ in 0..100 {
        if hosts.try_psql(mirror, sql).as_deref() == Some(expected) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("node{mirror} never returned {expected:?} for {sql}");
}

#[test]
fn apply_bootstraps_mirrors_that_stream_as_the_replication_role_from_their_own_addresses() {
    apply_bootstraps_mirrors_that_stream_as_the_replication_role_from_their_own_addresses_on(
        Postgres::V15,
        32,
    );
}

#[test]
fn apply_bootstraps_mirrors_that_stream_as_the_replication_role_from_their_own_addresses_on_postgresql_18()
 {
    apply_bootstraps_mirrors_that_stream_as_the_replication_role_from_their_own_addresses_on(
        Postgres::V18,
        84,
    );
}

fn apply_bootstraps_mirrors_that_stream_as_the_replication_role_from_their_own_addresses_on(
    postgres: Postgres,
    net: u8,
) {
    let hosts = TestHosts::up_on(postgres, net, 3);
    let done = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let output = std::thread::scope(|scope| {
        // Every process argument list on the machine while apply runs.
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&ps.stdout).into_owned());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let _stop = StopOnDrop(&done);
        mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0)
    });
    assert!(
        output
            .stdout
            .contains("Apply complete: 20 added, 6 changed, 0 removed; 1 restart."),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("node2: done in") && output.stdout.contains("streaming from node1"),
        "{}",
        output.stdout
    );
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 3, "ps ran during apply");
    assert!(
        seen.iter().all(|ps| !ps.contains(PASSPHRASE)),
        "the passphrase was in a process argument list"
    );

    // Both mirrors stream as the replication role, from their own addresses:
    // initdb's 127.0.0.1 lines cannot be what lets them in.
    let replication = hosts.psql(
        1,
        "SELECT application_name, client_addr, usename, state FROM pg_stat_replication ORDER BY 1",
    );
    assert_eq!(
        replication,
        format!(
            "node2|{}|replicator|streaming\nnode3|{}|replicator|streaming",
            hosts.addr(2),
            hosts.addr(3)
        )
    );
    assert_eq!(
        hosts.psql(
            1,
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'replicator'"
        ),
        "f"
    );
    hosts.psql(
        1,
        "CREATE TABLE written_on_primary (n int); INSERT INTO written_on_primary VALUES (42)",
    );
    for mirror in [2, 3] {
        wait_replayed(&hosts, mirror, "SELECT n FROM written_on_primary", "42");
        assert_eq!(hosts.psql(mirror, "SELECT pg_is_in_recovery()"), "t");
    }

    // The passphrase is only in the 0600 passfiles: not in any other file,
    // log, audit record or backup on the nodes, nor in apply's output.
    for text in [&output.stdout, &output.stderr] {
        assert!(!text.contains(PASSPHRASE));
    }
    assert_only_in_passfiles(&hosts, PASSPHRASE);
    let audit = std::fs::read_to_string(hosts.dir.join("node1/mirrorset-audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 13, "{audit}");
    let record: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(record["result"], "ok");
    assert_eq!(record["node"], "node1");

    let status = mirrorset(&hosts, &["status", "FILE"], 0);
    for node in ["node2", "node3"] {
        let row = status.stdout.lines().find(|l| l.starts_with(node)).unwrap();
        assert!(
            row.contains("standby  node1") && row.contains("in sync"),
            "{}",
            status.stdout
        );
    }
    assert_converged(&hosts);
}

#[test]
fn drift_is_shown_exactly_and_repaired_without_touching_the_rest() {
    drift_is_shown_exactly_and_repaired_without_touching_the_rest_on(Postgres::V15, 33);
}

#[test]
fn drift_is_shown_exactly_and_repaired_without_touching_the_rest_on_postgresql_18() {
    drift_is_shown_exactly_and_repaired_without_touching_the_rest_on(Postgres::V18, 85);
}

fn drift_is_shown_exactly_and_repaired_without_touching_the_rest_on(postgres: Postgres, net: u8) {
    let hosts = TestHosts::up_on(postgres, net, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let started = start_times(&hosts, 3);

    let hba = hosts.dir.join("node1/etc/pg_hba.conf");
    let edited = std::fs::read_to_string(&hba).unwrap().replace(
        &format!("{}/32", hosts.addr(2)),
        &format!("127.0.{net}.0/24"),
    );
    std::fs::write(&hba, edited).unwrap();
    hosts.psql(1, "ALTER SYSTEM SET wal_level = 'logical'");
    // Drop node3's slot: end its walsender, then drop before the mirror reconnects.
    let dropped = (0..100).any(|_| {
        hosts.try_psql(
            1,
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'node3' AND active_pid IS NOT NULL",
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        hosts.try_psql(1, "SELECT pg_drop_replication_slot('node3')").is_some()
    });
    assert!(dropped, "could not drop node3's slot");
    std::fs::remove_file(hosts.dir.join("node3/data/standby.signal")).unwrap();
    Command::new("chmod")
        .arg("644")
        .arg(hosts.dir.join("node2/mirrorset.pgpass"))
        .status()
        .unwrap();

    let plan = mirrorset(
        &hosts,
        &["plan", "FILE", "--json", "--detailed-exitcode"],
        2,
    );
    let steps = plan_steps(&plan.stdout);
    assert_eq!(
        steps,
        [
            "node1 write_file pg_hba.conf",
            "node1 reset_setting wal_level",
            "node1 reload ",
            "node1 create_slot node3",
            "node2 write_file mirrorset.pgpass",
            "node3 write_standby_signal standby.signal",
            // Its slot is back: apply waits until it streams again.
            "node3 wait_streaming ",
        ]
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert_eq!(start_times(&hosts, 3), started, "a server was restarted");
    wait_replayed(
        &hosts,
        1,
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        "2",
    );
}

#[test]
fn a_mirror_added_to_the_file_is_cloned_without_restarting_the_others() {
    let hosts = TestHosts::up(34, 4);
    let full = hosts.cluster_toml();
    let without_node4 = &full[..full.find("\n[nodes.node4]").unwrap()];
    std::fs::write(hosts.cluster_file(), format!("{without_node4}\n")).unwrap();
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    let started = start_times(&hosts, 3);

    std::fs::write(hosts.cluster_file(), &full).unwrap();
    let output = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let clones = output
        .stdout
        .lines()
        .filter(|l| l.contains(": clone ") && l.ends_with("..."))
        .count();
    assert_eq!(clones, 1, "{}", output.stdout);
    assert!(output.stdout.contains("node4: clone"), "{}", output.stdout);
    assert!(
        !output.stdout.contains("> restart") && !output.stdout.contains(": restart ..."),
        "{}",
        output.stdout
    );
    assert_eq!(
        start_times(&hosts, 3),
        started,
        "an existing node was restarted"
    );
    wait_replayed(
        &hosts,
        1,
        "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication",
        "node2,node3,node4",
    );
    assert_converged(&hosts);
}

#[test]
fn a_stale_saved_plan_and_a_held_lock_are_refused_with_the_reason() {
    let hosts = TestHosts::up(35, 2);
    let saved = hosts.dir.join("plan.json");
    mirrorset(
        &hosts,
        &["plan", "FILE", "--out", saved.to_str().unwrap()],
        0,
    );
    let hba = hosts.dir.join("node2/etc/pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).unwrap();
    text.push_str("# a change made after the plan\n");
    std::fs::write(&hba, text).unwrap();
    let output = mirrorset(&hosts, &["apply", saved.to_str().unwrap()], 1);
    let flat = flatten(&output.stderr);
    assert!(flat.contains("apply::stale_plan"), "{}", output.stderr);
    assert!(
        flat.contains("is stale") && flat.contains("node2: write") && flat.contains("pg_hba.conf"),
        "{}",
        output.stderr
    );

    // Another apply holds node1's lock: this one waits, then names the holder.
    let lock = hosts.dir.join("node1/mirrorset.lock");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(
        lock.join("holder"),
        "alice@ops-laptop pid 4242 since 20261122T000000Z for plan abc123\n",
    )
    .unwrap();
    Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&lock)
        .status()
        .unwrap();
    let output = mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--lock-timeout", "2"],
        1,
    );
    let flat = flatten(&output.stderr);
    assert!(
        flat.contains("node1 is locked by alice@ops-laptop pid 4242"),
        "{}",
        output.stderr
    );
    assert!(flat.contains("force-unlock"), "{}", output.stderr);
    assert!(
        output.stdout.contains("Plan:") && !output.stdout.contains("done in"),
        "nothing ran: {}",
        output.stdout
    );

    let unlocked = mirrorset(&hosts, &["force-unlock", "FILE"], 0);
    assert!(
        unlocked
            .stdout
            .contains("node1: removed the lock held by alice@ops-laptop"),
        "{}",
        unlocked.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(!lock.exists(), "apply released its lock");
    assert_converged(&hosts);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let hosts = TestHosts::up(37, 1);
    let output = mirrorset(&hosts, &["apply", "FILE"], 1);
    assert!(
        output.stderr.contains("apply::no_terminal"),
        "{}",
        output.stderr
    );
    let nothing = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert!(nothing.stdout.contains("Plan:"));
}

#[test]
fn an_apply_interrupted_mid_clone_names_the_node_and_a_rerun_converges() {
    let hosts = TestHosts::up(36, 2);
    // Enough data that the clone is still running when the mirror's sshd goes away.
    let pgbench = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pgbench",
            "-i",
            "-q",
            "-s",
            "40",
            "-h",
        ])
        .arg(hosts.dir.join("node1/run"))
        .arg("postgres")
        .output()
        .unwrap();
    assert!(
        pgbench.status.success(),
        "{}",
        String::from_utf8_lossy(&pgbench.stderr)
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorset"))
        .args([
            "apply",
            hosts.cluster_file().to_str().unwrap(),
            "--auto-approve",
        ])
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if line.contains("node2: clone") && line.ends_with("...") {
            hosts.ctl("stop-sshd", 2);
        }
    }
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(result.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("node2"),
        "the error names the node: {stderr}"
    );
    assert!(stderr.contains("Apply stopped"), "{stderr}");

    hosts.ctl("start-sshd", 2);
    // Whatever the clone left, the next apply recognises it and converges.
    let output = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(
        output.stdout.contains("Apply complete"),
        "{}",
        output.stdout
    );
    wait_replayed(&hosts, 2, "SELECT count(*) FROM pgbench_branches", "40");
    assert_converged(&hosts);
}
