//! Changes of topology on real loopback hosts, all made by editing the
//! cluster file: switchover under load (and back), failover and the old
//! primary's rejoin by pg_rewind (or a clone when it fails), a crashed
//! primary, absent and standalone nodes made members again, and the
//! switchovers plan refuses. Each ends with an empty plan.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::apply::{assert_converged, mirrorset, wait_replayed};
use crate::hosts::{Postgres, TestHosts};
use crate::load::{Ack, Load, load_setup_sql, write_gap};
use crate::test::{Test, flatten};

/// Sets `state` of node `host` in the cluster file (member: the line goes).
fn set_state(hosts: &TestHosts, host: u8, state: &str) {
    let file = hosts.cluster_file();
    let text = std::fs::read_to_string(&file).unwrap();
    let header = format!("[nodes.node{host}]\n");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.retain(|line| !line.starts_with("state = "));
    let mut text = lines.join("\n") + "\n";
    if state != "member" {
        text = text.replacen(&header, &format!("{header}state = \"{state}\"\n"), 1);
    }
    std::fs::write(&file, text).unwrap();
}

fn promote(hosts: &TestHosts, node: &str) {
    mirrorset(hosts, &["promote", node, "FILE", "--no-plan"], 0);
}

/// The ids `host` holds, once it has at least `count` rows.
fn ids_on(hosts: &TestHosts, host: u8, count: usize) -> BTreeSet<i64> {
    wait_replayed(
        hosts,
        host,
        &format!("SELECT count(*) >= {count} FROM load"),
        "t",
    );
    hosts
        .psql(host, "SELECT id FROM load")
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}

/// Every acknowledged row is on every host.
fn assert_no_row_lost(hosts: &TestHosts, acks: &[Ack], among: &[u8]) {
    let primary_rows = hosts.psql(among[0], "SELECT count(*) FROM load");
    for host in among {
        let ids = ids_on(hosts, *host, primary_rows.parse().unwrap());
        let lost: Vec<i64> = acks
            .iter()
            .map(|a| a.id)
            .filter(|id| !ids.contains(id))
            .collect();
        assert!(
            lost.is_empty(),
            "node{host} lacks acknowledged rows {lost:?}"
        );
    }
}

/// (application_name, slot) of each walsender on `host`.
fn streaming_from(hosts: &TestHosts, host: u8) -> String {
    hosts.psql(
        host,
        "SELECT string_agg(r.application_name || ':' || s.slot_name, ',' ORDER BY r.application_name) \
         FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid \
         WHERE r.state = 'streaming'",
    )
}

fn timeline_of(hosts: &TestHosts, node: &str) -> u64 {
    let status = mirrorset(hosts, &["status", "FILE", "--json"], 0);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == node)
        .and_then(|row| row["timeline"].as_u64())
        .unwrap_or_else(|| panic!("no timeline for {node} in {}", status.stdout))
}

/// Promotes `to` under load; returns the write gap.
fn switch_under_load(hosts: &TestHosts, from: u8, to: u8, first_id: i64) -> Duration {
    let load = Load::start(hosts, &[1, 2], first_id);
    std::thread::sleep(Duration::from_millis(400));
    promote(hosts, &format!("node{to}"));
    let apply = mirrorset(hosts, &["apply", "FILE", "--auto-approve"], 0);
    std::thread::sleep(Duration::from_millis(400));
    let acks = load.stop();
    assert!(
        apply.stdout.contains(&format!(
            "Switchover node{from} -> node{to}, in this order:"
        )) && apply.stdout.contains(&format!(
            "node{to} is the primary; no server took writes for"
        )),
        "{}",
        apply.stdout
    );
    let gap = write_gap(&acks, &hosts.addr(from), &hosts.addr(to));
    assert_no_row_lost(hosts, &acks, &[to, from, 3]);
    // What apply itself reports, for the benchmark's output.
    if let Some(line) = apply
        .stdout
        .lines()
        .find(|l| l.contains("no server took writes"))
    {
        println!("  apply: {line}");
    }
    gap
}

#[test]
fn switchover_under_load_loses_no_acknowledged_row_and_switches_back() {
    switchover_under_load_loses_no_acknowledged_row_and_switches_back_on(Postgres::V15, 39);
}

#[test]
fn switchover_under_load_loses_no_acknowledged_row_and_switches_back_on_postgresql_18() {
    switchover_under_load_loses_no_acknowledged_row_and_switches_back_on(Postgres::V18, 86);
}

fn switchover_under_load_loses_no_acknowledged_row_and_switches_back_on(
    postgres: Postgres,
    net: u8,
) {
    let hosts = TestHosts::up_on(postgres, net, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.psql(1, &load_setup_sql());
    wait_replayed(&hosts, 2, "SELECT count(*) FROM load", "0");

    let gap = switch_under_load(&hosts, 1, 2, 0);
    eprintln!("switchover node1 -> node2: writes refused for {gap:?}");
    // The new primary takes writes, both others stream from it with their own slots.
    hosts.psql(2, "INSERT INTO load VALUES (-1, 'by hand')");
    assert_eq!(streaming_from(&hosts, 2), "node1:node1,node3:node3");
    assert_eq!(hosts.psql(1, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(timeline_of(&hosts, "node2"), 2);
    assert_converged(&hosts);

    // Failback is the same operation in reverse.
    let gap = switch_under_load(&hosts, 2, 1, 1_000_000);
    eprintln!("switchover node2 -> node1: writes refused for {gap:?}");
    assert_eq!(streaming_from(&hosts, 1), "node2:node2,node3:node3");
    assert_eq!(timeline_of(&hosts, "node1"), 3);
    // No slot is left on a mirror to hold WAL there.
    for host in [2, 3] {
        assert_eq!(
            hosts.psql(host, "SELECT count(*) FROM pg_replication_slots"),
            "0"
        );
    }
    assert_converged(&hosts);
}

/// The figure for the notes, not a test: run by bench/switchover.sh
/// (release build). Five switchovers under load, back and forth.
#[test]
#[ignore = "a benchmark: bench/switchover.sh runs it"]
fn switchover_write_gap_median_of_5() {
    let hosts = TestHosts::up(44, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.psql(1, &load_setup_sql());
    wait_replayed(&hosts, 2, "SELECT count(*) FROM load", "0");
    let mut gaps = Vec::new();
    for run in 0..5_u8 {
        let (from, to) = if run % 2 == 0 { (1, 2) } else { (2, 1) };
        let gap = switch_under_load(&hosts, from, to, i64::from(run) * 1_000_000);
        println!(
            "run {}: node{from} -> node{to}: writes refused for {} ms",
            run + 1,
            gap.as_millis()
        );
        gaps.push(gap);
        assert_converged(&hosts);
    }
    gaps.sort();
    println!("median of 5: {} ms", gaps[2].as_millis());
}

#[test]
fn failover_needs_consent_and_the_old_primary_rejoins_by_rewind() {
    failover_needs_consent_and_the_old_primary_rejoins_by_rewind_on(Postgres::V15, 40);
}

#[test]
fn failover_needs_consent_and_the_old_primary_rejoins_by_rewind_on_postgresql_18() {
    failover_needs_consent_and_the_old_primary_rejoins_by_rewind_on(Postgres::V18, 87);
}

fn failover_needs_consent_and_the_old_primary_rejoins_by_rewind_on(postgres: Postgres, net: u8) {
    let hosts = TestHosts::up_on(postgres, net, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.psql(
        1,
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)",
    );
    for host in [2, 3] {
        wait_replayed(&hosts, host, "SELECT count(*) FROM t", "10");
    }
    hosts.ctl("stop-sshd", 1);
    hosts.ctl("stop-pg", 1);
    promote(&hosts, "node2");

    let refused = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&refused.stdout);
    assert!(
        text.contains("failover (node1 is unreachable)")
            && text.contains("risks split brain")
            && text.contains("--allow-failover"),
        "{}",
        refused.stdout
    );
    let refused = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert!(
        flatten(&refused.stderr).contains("refused"),
        "{}",
        refused.stderr
    );
    assert_eq!(hosts.psql(2, "SELECT pg_is_in_recovery()"), "t");

    let failover = mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--allow-failover"],
        0,
    );
    assert!(
        failover.stdout.contains("Failover node1 -> node2"),
        "{}",
        failover.stdout
    );
    hosts.psql(2, "INSERT INTO t SELECT generate_series(11, 20)");
    wait_replayed(&hosts, 3, "SELECT count(*) FROM t", "20");

    // The old primary comes back having taken writes nobody else has, then stops.
    hosts.ctl("start-pg", 1);
    hosts.psql(1, "INSERT INTO t SELECT generate_series(1001, 1005)");
    hosts.ctl("stop-pg", 1);
    hosts.ctl("start-sshd", 1);

    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert!(
        plan.stdout.contains("pg_rewind") && plan.stdout.contains("node1 was a primary"),
        "{}",
        plan.stdout
    );
    let rejoin = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(
        rejoin.stdout.contains("rewound"),
        "the rewind found diverged writes to undo:\n{}",
        rejoin.stdout
    );
    assert_eq!(hosts.psql(1, "SELECT pg_is_in_recovery()"), "t");
    wait_replayed(&hosts, 1, "SELECT count(*) FROM t", "20");
    assert_eq!(hosts.psql(1, "SELECT count(*) FROM t WHERE id > 1000"), "0");
    assert_eq!(streaming_from(&hosts, 2), "node1:node1,node3:node3");
    assert_converged(&hosts);
}

/// A converged cluster whose primary node1 then crashed (its host stays
/// up; PostgreSQL dies without a shutdown checkpoint), with node2 named primary.
fn crashed_primary(net: u8) -> TestHosts {
    let hosts = TestHosts::up(net, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.psql(1, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    wait_replayed(&hosts, 2, "SELECT count(*) FROM t", "1");
    hosts.ctl("crash-pg", 1);
    promote(&hosts, "node2");
    hosts
}

#[test]
fn a_crashed_primary_is_a_failover_and_is_rewound_in_the_same_apply() {
    let hosts = crashed_primary(48);
    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    assert!(
        flatten(&refused.stdout).contains(
            "failover (node1 stopped without a clean shutdown (it crashed or was killed))"
        ),
        "{}",
        refused.stdout
    );
    let failover = mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--allow-failover"],
        0,
    );
    assert!(
        failover.stdout.contains("node1: pg_rewind"),
        "{}",
        failover.stdout
    );
    assert_eq!(hosts.psql(1, "SELECT pg_is_in_recovery()"), "t");
    hosts.psql(2, "INSERT INTO t VALUES (2)");
    wait_replayed(&hosts, 1, "SELECT count(*) FROM t", "2");
    assert_eq!(streaming_from(&hosts, 2), "node1:node1,node3:node3");
    assert_converged(&hosts);
}

#[test]
fn a_rewind_that_fails_is_followed_by_a_clone_of_the_old_primary() {
    let hosts = crashed_primary(49);
    // Without its WAL the crashed node1 cannot be recovered, so not rewound.
    let wal = hosts.dir.join("node1/data/pg_wal");
    for entry in std::fs::read_dir(&wal).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    let failed = mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--allow-failover"],
        1,
    );
    assert!(
        flatten(&failed.stderr).contains("pg_rewind from 127.0.49.2:5432 failed")
            && flatten(&failed.stderr).contains("the next plan clones node1 again instead"),
        "{}",
        failed.stderr
    );
    // The promotion itself went through.
    assert_eq!(hosts.psql(2, "SELECT pg_is_in_recovery()"), "f");
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        plan.stdout.contains("-/+ move") && plan.stdout.contains("pg_rewind failed on node1"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(hosts.psql(1, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(streaming_from(&hosts, 2), "node1:node1,node3:node3");
    assert!(
        !hosts
            .dir
            .join("node1/data.mirrorset-rewind-failed")
            .exists()
    );
    assert_converged(&hosts);
}

#[test]
fn absent_and_standalone_nodes_leave_and_come_back_as_members() {
    let hosts = TestHosts::up(41, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let node3_conf = hosts.dir.join("node3/etc/mirrorset.conf");
    let conf_before = std::fs::read(&node3_conf).unwrap();

    // Absent: its slot and its pg_hba lines go; the node itself is not touched.
    set_state(&hosts, 3, "absent");
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(
        hosts.psql(
            1,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'node3'"
        ),
        "0"
    );
    for host in [1, 2] {
        let hba =
            std::fs::read_to_string(hosts.dir.join(format!("node{host}/etc/pg_hba.conf"))).unwrap();
        assert!(!hba.contains(&hosts.addr(3)), "node{host}:\n{hba}");
    }
    assert_eq!(std::fs::read(&node3_conf).unwrap(), conf_before);
    assert_eq!(hosts.psql(3, "SELECT pg_is_in_recovery()"), "t");
    assert_converged(&hosts);

    set_state(&hosts, 3, "member");
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(streaming_from(&hosts, 1), "node2:node2,node3:node3");
    assert_converged(&hosts);

    // Standalone: promoted to an independent server, detached from the others.
    set_state(&hosts, 3, "standalone");
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(hosts.psql(3, "SELECT pg_is_in_recovery()"), "f");
    hosts.psql(3, "CREATE TABLE standalone_only (id int)");
    assert_eq!(streaming_from(&hosts, 1), "node2:node2");
    let hba = std::fs::read_to_string(hosts.dir.join("node3/etc/pg_hba.conf")).unwrap();
    assert!(!hba.contains("replication replicator"), "{hba}");
    assert_converged(&hosts);

    // Member again: cloned anew, its own writes kept in the moved-aside directory.
    set_state(&hosts, 3, "member");
    let back = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(back.stdout.contains("MOVED") || back.stderr.contains("MOVED"));
    let moved: Vec<_> = std::fs::read_dir(hosts.dir.join("node3"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("data.mirrorset-moved-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(hosts.psql(3, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(
        hosts.psql(
            3,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'standalone_only'"
        ),
        "0"
    );
    assert_eq!(streaming_from(&hosts, 1), "node2:node2,node3:node3");
    assert_converged(&hosts);
}

#[test]
fn plan_refuses_a_switchover_to_a_lagging_target_or_from_an_unrewindable_primary() {
    let hosts = TestHosts::up(43, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);

    hosts.psql(2, "SELECT pg_wal_replay_pause()");
    hosts.psql(
        1,
        "CREATE TABLE filler AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 100000) g",
    );
    promote(&hosts, "node2");
    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    let text = flatten(&refused.stdout);
    assert!(
        text.contains("replay is paused on node2")
            && text.contains("node2 is not caught up")
            && text.contains("No actions"),
        "{}",
        refused.stdout
    );
    hosts.psql(2, "SELECT pg_wal_replay_resume()");
    wait_replayed(&hosts, 2, "SELECT count(*) FROM filler", "100000");

    // wal_log_hints off on the old primary: pg_rewind could not bring it back.
    hosts.psql(1, "ALTER SYSTEM SET wal_log_hints = off");
    hosts.ctl("stop-pg", 1);
    hosts.ctl("start-pg", 1);
    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    assert!(
        flatten(&refused.stdout)
            .contains("node1 runs with wal_log_hints off and without data checksums"),
        "{}",
        refused.stdout
    );
    assert_eq!(hosts.psql(2, "SELECT pg_is_in_recovery()"), "t");

    // Back to node1 as primary: the override is reset, and the cluster converges.
    promote(&hosts, "node1");
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert!(
        plan.stdout.contains("ALTER SYSTEM RESET wal_log_hints"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(hosts.psql(1, "SHOW wal_log_hints"), "on");
    assert_converged(&hosts);
}

#[test]
fn promote_changes_only_the_primary_value() {
    let dir = std::env::temp_dir().join(format!("mirrorset-promote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cluster.toml");
    let original = "#:schema ../schemas/cluster.schema.json\n\
        # Our production cluster.\n\
        [cluster]\n\
        name    = \"prod\"      # never renamed\n\
        primary =   'db1'     # moved by `mirrorset promote`\n\
        \n\
        [replication]\n\
        user = \"replicator\"\n\
        passphrase = { env = \"PROMOTE_TEST_PASSPHRASE\" }\n\
        max_slot_wal_keep_size = \"10GB\"\n\
        \n\
        [nodes.db1]\nhost = \"10.0.0.1\"\n\n\
        [nodes.db2]   # the mirror in the other rack\nhost = \"10.0.0.2\"\n\n\
        [nodes.db3]\nhost  = \"10.0.0.3\"\nstate = \"absent\"\n";
    std::fs::write(&file, original).unwrap();
    let path = file.to_str().unwrap();

    Test::new()
        .args(["promote", "db2", path, "--no-plan"])
        .stdout(&format!(
            "Edited {path}: primary = \"db2\" (was \"db1\"); nothing else in the file changed.\n\
             Review the plan, commit the change, then run `mirrorset apply {path}`.\n"
        ))
        .run();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original.replace("'db1'", "'db2'")
    );

    let unknown = Test::new()
        .args(["promote", "db9", path, "--no-plan"])
        .status(1)
        .run();
    assert!(
        flatten(&unknown.stderr).contains("has no node \"db9\""),
        "{}",
        unknown.stderr
    );
    let absent = Test::new()
        .args(["promote", "db3", path, "--no-plan"])
        .status(1)
        .run();
    assert!(
        flatten(&absent.stderr).contains("db3 is not a member of cluster prod"),
        "{}",
        absent.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original.replace("'db1'", "'db2'"),
        "refused promotions leave the file alone"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
