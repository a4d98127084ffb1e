//! Green means healthy, on real loopback hosts: each state a review found
//! plan, status or check calling fine (issue 11) ends in the refusal or
//! error that names its cause, and where it can be repaired, in a
//! converged cluster and `plan --detailed-exitcode` exiting 0.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::apply::{PASSPHRASE, assert_converged, mirrorset, wait_replayed};
use crate::hosts::TestHosts;
use crate::test::flatten;
use crate::tls::{TestCa, with_tls};

fn conf(hosts: &TestHosts, host: u8, name: &str) -> PathBuf {
    hosts.dir.join(format!("node{host}/etc/{name}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Appends `line` to a file, keeping its owner and mode.
fn append(path: &Path, line: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(file, "{line}").unwrap();
}

/// Writes `text` over a file in place, keeping its owner and mode.
fn overwrite(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn start_time(hosts: &TestHosts, host: u8) -> String {
    hosts.psql(host, "SELECT pg_postmaster_start_time()")
}

fn reload(hosts: &TestHosts, host: u8) {
    hosts.psql(host, "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(300));
}

/// Waits until `node{host}`'s log holds `text`.
fn wait_for_log(hosts: &TestHosts, host: u8, text: &str) {
    let log = hosts.dir.join(format!("node{host}/postgresql.log"));
    for _ in 0..150 {
        if std::fs::read_to_string(&log).is_ok_and(|log| log.contains(text)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("node{host}'s log never said {text:?}:\n{}", read(&log));
}

fn health_codes(plan_json: &str) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    plan["health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["node"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

/// Fills the primary with `rows` rows of 1.8 kB, so that a clone takes a
/// moment, runs `apply --auto-approve` on fresh hosts and hands each line
/// it prints (with its pid) to `on_line`; returns (exit code, stdout, stderr).
fn apply_watching(
    hosts: &TestHosts,
    rows: u32,
    mut on_line: impl FnMut(&str, u32),
) -> (Option<i32>, String, String) {
    hosts.psql(
        1,
        &format!(
            "CREATE TABLE big AS SELECT g, repeat('x', 1800) AS pad FROM generate_series(1, {rows}) g"
        ),
    );
    let mut apply = Command::new(env!("CARGO_BIN_EXE_mirrorset"))
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
    let pid = apply.id();
    let mut stdout = String::new();
    for line in BufReader::new(apply.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        on_line(&line, pid);
    }
    let output = apply.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stdout, stderr)
}

fn set_file(hosts: &TestHosts, text: &str) {
    std::fs::write(hosts.cluster_file(), text).unwrap();
}

/// Case 1: a misspelled setting, and a file of the operator's that
/// PostgreSQL rejects, running and stopped: nothing is written, reloaded,
/// restarted or started into it.
#[test]
fn settings_and_files_postgresql_rejects_are_refused_and_nothing_is_restarted_into_them() {
    let hosts = TestHosts::up(50, 2);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let original = read(&hosts.cluster_file());
    let with_settings = |settings: &str| {
        original.replacen(
            "max_slot_wal_keep_size = \"1GB\"\n",
            &format!("max_slot_wal_keep_size = \"1GB\"\n\n[settings]\n{settings}"),
            1,
        )
    };

    // A typo in the cluster file: PostgreSQL's list of settings decides.
    set_file(&hosts, &with_settings("shared_bufers = \"64MB\"\n"));
    let own_conf = conf(&hosts, 1, "mirrorset.conf");
    let before = read(&own_conf);
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    assert!(
        flatten(&plan.stdout).contains(
            "node1: [settings] shared_bufers: this server has no such setting (did you mean shared_buffers?)"
        ),
        "{}",
        plan.stdout
    );
    let json = mirrorset(&hosts, &["plan", "FILE", "--json"], 1);
    assert_eq!(
        health_codes(&json.stdout),
        ["node1 unknown_setting", "node2 unknown_setting"]
    );
    let refused = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert!(
        refused.stderr.contains("apply refused"),
        "{}",
        refused.stderr
    );
    assert_eq!(read(&own_conf), before, "mirrorset.conf was written");

    // A typo in a file of the operator's, while the file asks for a restart.
    set_file(&hosts, &with_settings("max_wal_senders = 12\n"));
    let postgresql_conf = conf(&hosts, 1, "postgresql.conf");
    let pristine = read(&postgresql_conf);
    overwrite(
        &postgresql_conf,
        &format!("shared_bufers = 64MB\n{pristine}"),
    );
    let started = start_time(&hosts, 1);
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&plan.stdout);
    assert!(
        text.contains(&format!(
            "node1: PostgreSQL rejects {} line 1 (shared_bufers): unrecognized configuration parameter",
            postgresql_conf.display()
        )) && text.contains("[config_file_error]"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert_eq!(start_time(&hosts, 1), started, "node1 was restarted");
    let check = mirrorset(&hosts, &["check", "FILE"], 1);
    assert!(
        check
            .stdout
            .contains("node1: PostgreSQL rejects its configuration")
            && check.stdout.contains("line 1"),
        "{}",
        check.stdout
    );
    let status = mirrorset(&hosts, &["status", "FILE"], 1);
    assert!(
        status
            .stdout
            .contains("unrecognized configuration parameter"),
        "{}",
        status.stdout
    );

    // Stopped with it: plan names the file and line and plans no start.
    hosts.ctl("stop-pg", 1);
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&plan.stdout);
    assert!(
        text.contains("node1: the server is stopped and would not start")
            && text.contains("line 1")
            && !text.contains("> start"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert_eq!(hosts.pg_status(1), "down", "node1 was started");

    // Fixed: one apply starts it, reads it again, and does the rest.
    overwrite(&postgresql_conf, &pristine);
    set_file(&hosts, &original);
    let apply = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(
        apply.stdout.contains("Read every node again"),
        "{}",
        apply.stdout
    );
    assert_converged(&hosts);
}

/// Case 2: a setting mirrorset writes, set again after the include line:
/// refused with the file and line, and the server is never restarted into it.
#[test]
fn an_owned_setting_set_again_after_the_include_is_refused_with_its_file_and_line() {
    let hosts = TestHosts::up(51, 2);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let postgresql_conf = conf(&hosts, 2, "postgresql.conf");
    let pristine = read(&postgresql_conf);
    append(&postgresql_conf, "wal_level = minimal");
    let line = read(&postgresql_conf).lines().count();
    reload(&hosts, 2);
    let started = start_time(&hosts, 2);

    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&plan.stdout);
    assert!(
        text.contains(&format!(
            "node2: {} line {line} sets wal_level = minimal after mirrorset.conf, so PostgreSQL would run with it instead of replica",
            postgresql_conf.display()
        )) && text.contains("[setting_overridden]")
            && !text.contains("> restart"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert_eq!(start_time(&hosts, 2), started, "node2 was restarted");
    assert_eq!(hosts.psql(2, "SELECT pg_is_in_recovery()"), "t");
    let check = mirrorset(&hosts, &["check", "FILE"], 1);
    assert!(
        flatten(&check.stdout).contains("sets wal_level = minimal after mirrorset.conf"),
        "{}",
        check.stdout
    );

    // Stopped, it cannot be asked: mirrorset's reading of the file names
    // the line, and plans no start into it.
    hosts.ctl("stop-pg", 2);
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&plan.stdout);
    assert!(
        text.contains(&format!(
            "node2: {} line {line} sets wal_level = minimal after mirrorset.conf",
            postgresql_conf.display()
        )) && !text.contains("> start"),
        "{}",
        plan.stdout
    );

    overwrite(&postgresql_conf, &pristine);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);

    // A value PostgreSQL refuses, in a file of the operator's: pg_file_settings
    // calls it "could not be applied" like a pending restart, postgres -C
    // says what a restart would say.
    overwrite(&postgresql_conf, &format!("work_mem = 'lots'\n{pristine}"));
    reload(&hosts, 2);
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    assert!(
        flatten(&plan.stdout)
            .contains("node2: PostgreSQL rejects its configuration as a restart would read it")
            && plan.stdout.contains("work_mem"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["check", "FILE"], 1);
    overwrite(&postgresql_conf, &pristine);
    reload(&hosts, 2);
    assert_converged(&hosts);
}

/// Case 3 and the foreign `reject` line: a mirror whose login is refused
/// fails plan, status and check, each naming the node and the cause.
#[test]
fn a_mirror_rejected_by_a_foreign_pg_hba_line_fails_plan_status_and_check() {
    let hosts = TestHosts::up(52, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let hba = conf(&hosts, 1, "pg_hba.conf");
    let pristine = read(&hba);
    overwrite(
        &hba,
        &format!(
            "host replication replicator {}/32 reject\n{pristine}",
            hosts.addr(2)
        ),
    );
    reload(&hosts, 1);
    hosts.psql(
        1,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'node2'",
    );
    wait_for_log(&hosts, 2, "pg_hba.conf rejects replication connection");

    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    let text = flatten(&plan.stdout);
    assert!(
        text.contains("node2: does not stream from node1 through its slot")
            && text.contains("pg_hba.conf rejects replication connection for host \"127.0.52.2\"")
            && !text.contains("node3: does not stream"),
        "{}",
        plan.stdout
    );
    let status = mirrorset(&hosts, &["status", "FILE"], 1);
    let row = |name: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(row("node2").contains("failed"), "{}", status.stdout);
    assert!(row("node3").contains("standby"), "{}", status.stdout);
    assert!(
        flatten(&status.stdout).contains("node2: does not stream from node1 through slot node2")
            && status.stdout.contains("pg_hba.conf rejects"),
        "{}",
        status.stdout
    );
    let check = mirrorset(&hosts, &["check", "FILE"], 1);
    assert!(
        flatten(&check.stdout)
            .contains("node2: the replication login to node1 as replicator fails")
            && check
                .stdout
                .contains("pg_hba.conf rejects replication connection")
            && check.stdout.contains("1 of 3 nodes failed."),
        "{}",
        check.stdout
    );

    overwrite(&hba, &pristine);
    reload(&hosts, 1);
    wait_replayed(
        &hosts,
        1,
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        "2",
    );
    assert_converged(&hosts);
    mirrorset(&hosts, &["status", "FILE"], 0);
    mirrorset(&hosts, &["check", "FILE"], 0);

    // A mirror that streams but does not replay is not healthy either.
    hosts.psql(3, "SELECT pg_wal_replay_pause()");
    wait_replayed(&hosts, 3, "SELECT pg_is_wal_replay_paused()", "t");
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    assert!(
        plan.stdout
            .contains("node3: receives WAL but does not replay it"),
        "{}",
        plan.stdout
    );
    let status = mirrorset(&hosts, &["status", "FILE"], 1);
    assert!(
        status.stdout.contains("node3: replay is paused"),
        "{}",
        status.stdout
    );
    let check = mirrorset(&hosts, &["check", "FILE"], 1);
    assert!(
        check.stdout.contains("node3: replay is paused"),
        "{}",
        check.stdout
    );
    hosts.psql(3, "SELECT pg_wal_replay_resume()");
    assert_converged(&hosts);
}

/// Case 4: after a failover the old primary comes back writable: plan
/// refuses, and check and status fail naming the split brain.
#[test]
fn an_old_primary_back_as_a_writable_server_fails_check_and_status_as_diverged() {
    let hosts = TestHosts::up(53, 2);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.ctl("stop-sshd", 1);
    hosts.ctl("stop-pg", 1);
    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--allow-failover"],
        0,
    );
    // Started at boot as it was: a primary, and it takes a write.
    hosts.ctl("start-pg", 1);
    hosts.ctl("start-sshd", 1);
    hosts.psql(1, "CREATE TABLE written_to_the_old_primary (id int)");

    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 1);
    assert!(plan.stdout.contains("split brain"), "{}", plan.stdout);
    let check = mirrorset(&hosts, &["check", "FILE"], 1);
    assert!(
        flatten(&check.stdout)
            .contains("node1: runs as a writable primary while the file names node2: split brain"),
        "{}",
        check.stdout
    );
    let status = mirrorset(&hosts, &["status", "FILE", "--json"], 1);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["healthy"], false);
    assert_eq!(json["nodes"][0]["state"], "diverged", "{}", status.stdout);
    assert_eq!(json["nodes"][1]["state"], "active", "{}", status.stdout);

    // Stopped, it is a demoted former primary that plan rewinds.
    hosts.ctl("stop-pg", 1);
    let status = mirrorset(&hosts, &["status", "FILE"], 1);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("node1") && l.contains("demoted")),
        "{}",
        status.stdout
    );
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        flatten(&plan.stdout).contains("writes it made that node2 never received are discarded"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
}

/// Case 5: a crashed primary whose host answers: plan starts it and plans
/// the rest after, never from facts it could not read; one apply converges.
#[test]
fn a_crashed_primary_is_started_and_planned_again_in_one_apply() {
    let hosts = TestHosts::up(54, 3);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    hosts.ctl("crash-pg", 1);

    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert!(
        plan.stdout
            .contains("[2] > read every node again, then plan and show the rest")
            && !plan.stdout.contains("ROLE")
            && !plan.stdout.contains("pg_create_physical_replication_slot"),
        "{}",
        plan.stdout
    );
    let apply = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(
        apply
            .stdout
            .contains("Read every node again; the rest of the plan:")
            && !apply.stdout.contains("already exists"),
        "{}",
        apply.stdout
    );
    assert_converged(&hosts);
}

/// Case 6: the primary stops while two mirrors clone, once the first
/// clone is done: the mirror waiting to stream gives up as soon as the
/// primary stops answering (not after its timeout), every failure is
/// reported when it happens, and a re-run converges.
#[test]
fn a_primary_that_stops_during_parallel_clones_fails_the_apply_at_once() {
    let hosts = TestHosts::up(55, 3);
    let mut clone_steps = Vec::new();
    let mut stopped = false;
    let (code, stdout, stderr) = apply_watching(&hosts, 100_000, |line, _| {
        let step = line.split(' ').next().unwrap_or_default().to_owned();
        if line.contains(": clone ") {
            clone_steps.push(step);
        } else if !stopped && line.contains(": done in") && clone_steps.contains(&step) {
            // The first clone is done; the other is running or done too.
            hosts.ctl("stop-pg", 1);
            stopped = true;
        }
    });
    assert!(stopped, "no clone finished:\n{stdout}\n{stderr}");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    // Whichever mirror was still cloning fails with pg_basebackup, or stops
    // beside the other's failure; none waits out its timeout.
    assert!(
        stdout.contains(": FAILED: ")
            && (stdout.contains("node1 does not answer")
                || stdout.contains("pg_basebackup from 127.0.55.1:5432 failed"))
            && !stdout.contains("not streaming from node1 after"),
        "{stdout}\n{stderr}"
    );

    hosts.ctl("start-pg", 1);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    // Mirrors started before the primary came back retry every 5 s.
    wait_replayed(
        &hosts,
        1,
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        "2",
    );
    assert_converged(&hosts);
    wait_replayed(&hosts, 3, "SELECT count(*) FROM big", "100000");
}

/// The serial number of the certificate `addr` serves, as openssl reads it.
fn served_serial(addr: &str) -> String {
    let output = Command::new("sh")
        .args([
            "-c",
            r#"openssl s_client -starttls postgres -connect "$1:5432" </dev/null 2>/dev/null | openssl x509 -noout -serial"#,
            "served-serial",
            addr,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn file_serial(path: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Case 7: renewed certificates are written and loaded (a reload), and a
/// certificate changed on disk after the server loaded it is reloaded too.
#[test]
fn renewed_certificates_are_loaded_by_a_reload_and_served() {
    let hosts = TestHosts::up(56, 2);
    let certs = hosts.dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let ca = TestCa::new("renewal test CA");
    let ca_file = ca.write(&certs, "ca.pem");
    let nodes: Vec<_> = (1..=2)
        .map(|i| ca.issue(&certs, &format!("node{i}"), &hosts.addr(i)))
        .collect();
    let text = read(&hosts.cluster_file());
    set_file(&hosts, &with_tls(&text, "tls", &ca_file, &nodes));
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let first = served_serial(&hosts.addr(1));
    assert_eq!(first, file_serial(&nodes[0].0));

    // Renewed: same CA, new certificates and keys in the same files.
    for i in 1..=2 {
        ca.issue(&certs, &format!("node{i}"), &hosts.addr(i));
    }
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert_eq!(
        plan.stdout.matches("> reload").count(),
        2,
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    for i in 1..=2_u8 {
        let served = served_serial(&hosts.addr(i));
        assert_eq!(served, file_serial(&nodes[usize::from(i) - 1].0));
        assert_ne!(served, first);
    }
    assert_converged(&hosts);

    // Changed on the node after the server loaded it: plan reloads it.
    std::thread::sleep(Duration::from_millis(50));
    let status = Command::new("touch")
        .arg(hosts.dir.join("node1/mirrorset-server.crt"))
        .status()
        .unwrap();
    assert!(status.success());
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 2);
    assert!(
        flatten(&plan.stdout).contains(
            "reload the certificate, key or CA changed on disk after the server last loaded them"
        ),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
}

/// SIGINT during apply (issue 12, case 9): the running steps finish, no
/// new one starts, apply says what was done and what was not, releases
/// every lock and leaves no remote process; a re-run converges without
/// force-unlock.
#[test]
fn an_interrupted_apply_finishes_its_steps_releases_its_locks_and_says_what_remains() {
    let hosts = TestHosts::up(59, 3);
    let mut interrupted = false;
    let (code, stdout, stderr) = apply_watching(&hosts, 50_000, |line, pid| {
        if !interrupted && line.contains(": clone ") {
            let status = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            interrupted = true;
        }
    });
    assert!(interrupted, "no clone started:\n{stdout}");
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted: the running step finishes")
            && stdout.contains("Apply interrupted:")
            && stdout.contains("every lock released. Not done:")
            && stdout.contains("wait until streaming from node1"),
        "{stdout}\n{stderr}"
    );
    let left = Command::new("pgrep")
        .args(["-f", "pg_basebackup.*net59"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        "",
        "a clone still runs"
    );
    // No lock is left: the re-run needs no force-unlock.
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
}
