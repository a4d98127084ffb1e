//! The replication passphrase's whole life on real hosts: rotated with every
//! mirror streaming throughout, and never readable anywhere but the 0600
//! passfiles, whatever command runs or fails.

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::apply::{assert_only_in_passfiles, mirrorset_with, plan_steps};
use crate::hosts::TestHosts;
use crate::test::{Output, StopOnDrop, Test, flatten};

/// Runs `during` while sampling, every 20 ms, `sample`; returns both.
fn sampled<T: Send>(
    sample: impl Fn() -> String + Sync,
    during: impl FnOnce() -> T,
) -> (T, Vec<String>) {
    let done = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let value = sample();
                seen.lock().unwrap().push(value);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let _stop = StopOnDrop(&done);
        during()
    });
    (result, seen.into_inner().unwrap())
}

fn streaming(hosts: &TestHosts) -> String {
    hosts
        .try_psql(
            1,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .unwrap_or_default()
}

#[test]
fn a_rotated_passphrase_reaches_every_passfile_before_the_role_and_no_mirror_stops_streaming() {
    let hosts = TestHosts::up(46, 3);
    let old = "Rotation-Old-Passphrase-0a1b";
    let new = "Rotation-New-Passphrase-2c3d";
    mirrorset_with(&hosts, old, &["apply", "FILE", "--auto-approve"], 0);

    let plan = mirrorset_with(&hosts, new, &["plan", "FILE", "--json"], 0);
    assert_eq!(
        plan_steps(&plan.stdout),
        [
            "node1 write_file mirrorset.pgpass",
            "node2 write_file mirrorset.pgpass",
            "node3 write_file mirrorset.pgpass",
            "node1 ensure_role replicator"
        ]
    );
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan["actions"][3]["set_password"], true);

    let (_, seen) = sampled(
        || streaming(&hosts),
        || mirrorset_with(&hosts, new, &["apply", "FILE", "--auto-approve"], 0),
    );
    assert!(seen.len() > 3, "sampled during apply");
    assert!(
        seen.iter().all(|count| count == "2"),
        "a mirror stopped streaming during the rotation: {seen:?}"
    );
    // Reconnecting now takes the new passphrase.
    hosts.psql(
        1,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_replication",
    );
    for _ in 0..200 {
        if streaming(&hosts) == "2" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        streaming(&hosts),
        "2",
        "the mirrors reconnect with the new passphrase"
    );
    let converged = mirrorset_with(&hosts, new, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        converged.stdout.contains("No changes"),
        "{}",
        converged.stdout
    );
    // No old passphrase stays behind on a node: no kept copy of a passfile
    // (issue 12, case 8), and the new one only in the three 0600 passfiles.
    let grep = std::process::Command::new("grep")
        .args(["-rl", old])
        .arg(&hosts.dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&grep.stdout),
        "",
        "the old passphrase is still on a node"
    );
    crate::apply::assert_only_in_passfiles(&hosts, new);
    // The old passphrase no longer matches anything.
    mirrorset_with(&hosts, old, &["plan", "FILE", "--detailed-exitcode"], 2);
}

#[test]
fn the_passphrase_appears_nowhere_but_in_the_passfiles_whatever_runs_or_fails() {
    let hosts = TestHosts::up(47, 3);
    let secret = "Redaction-Canary-7f3e9a-Passphrase";
    let saved = hosts.dir.join("saved-plan.json");
    let saved_arg = saved.to_str().unwrap();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let run = |outputs: &mut Vec<(String, Output)>, name: &str, args: &[&str], status: i32| {
        outputs.push((
            name.to_owned(),
            mirrorset_with(&hosts, secret, args, status),
        ));
    };
    run(&mut outputs, "validate", &["validate", "FILE"], 0);
    run(&mut outputs, "check", &["check", "FILE"], 0);
    run(
        &mut outputs,
        "check --json",
        &["check", "FILE", "--json"],
        0,
    );
    run(&mut outputs, "plan", &["plan", "FILE"], 0);
    run(&mut outputs, "plan --json", &["plan", "FILE", "--json"], 0);
    run(
        &mut outputs,
        "plan --out",
        &["plan", "FILE", "--out", saved_arg],
        0,
    );
    run(&mut outputs, "show", &["show", saved_arg], 0);
    run(
        &mut outputs,
        "show --json",
        &["show", saved_arg, "--json"],
        0,
    );
    run(&mut outputs, "facts", &["facts", "FILE"], 0);

    let ps = || {
        String::from_utf8_lossy(
            &Command::new("ps")
                .args(["-eo", "args"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned()
    };
    let (apply, seen) = sampled(ps, || {
        mirrorset_with(&hosts, secret, &["apply", saved_arg, "--auto-approve"], 0)
    });
    outputs.push(("apply".to_owned(), apply));
    assert!(seen.len() > 3, "ps ran during apply");
    assert!(
        seen.iter().all(|ps| !ps.contains(secret)),
        "the passphrase was in a process argument list"
    );
    run(&mut outputs, "status", &["status", "FILE"], 0);
    run(
        &mut outputs,
        "status --json",
        &["status", "FILE", "--json"],
        0,
    );
    run(
        &mut outputs,
        "plan after apply",
        &["plan", "FILE", "--detailed-exitcode"],
        0,
    );
    // Failures: a stale saved plan, a node down, a refused promotion.
    run(
        &mut outputs,
        "stale plan",
        &["apply", saved_arg, "--auto-approve"],
        1,
    );
    hosts.ctl("stop-sshd", 3);
    run(&mut outputs, "unreachable", &["plan", "FILE"], 1);
    run(&mut outputs, "check unreachable", &["check", "FILE"], 1);
    hosts.ctl("start-sshd", 3);
    run(
        &mut outputs,
        "promote absent",
        &["promote", "node9", "FILE", "--no-plan"],
        1,
    );
    // A passphrase read from a world-readable file is refused without echoing it.
    let secret_file = hosts.dir.join("passphrase.txt");
    std::fs::write(&secret_file, secret).unwrap();
    let file_source = hosts.dir.join("file-source.toml");
    std::fs::write(
        &file_source,
        std::fs::read_to_string(hosts.cluster_file())
            .unwrap()
            .replace(
                "{ env = \"MIRRORSET_TEST_PASSPHRASE\" }",
                &format!("{{ file = \"{}\" }}", secret_file.display()),
            ),
    )
    .unwrap();
    let world_readable = Test::new()
        .args(["plan", file_source.to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        flatten(&world_readable.stderr).contains("can be read by other users (mode 0644)"),
        "{}",
        world_readable.stderr
    );
    outputs.push(("world-readable file".to_owned(), world_readable));
    std::fs::remove_file(&secret_file).unwrap();

    for (name, output) in &outputs {
        assert!(
            !output.stdout.contains(secret) && !output.stderr.contains(secret),
            "`{name}` printed the passphrase"
        );
    }
    let saved_text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !saved_text.contains(secret),
        "the saved plan holds the passphrase"
    );

    // On the nodes: in the passfiles only; not in mirrorset.conf, pg_hba,
    // backups, audit records, locks, or any server log.
    assert_only_in_passfiles(&hosts, secret);
    // What that search covered: every node's server and sshd logs and audit records.
    for host in 1..=3 {
        for file in ["postgresql.log", "mirrorset-audit.jsonl"] {
            let path = hosts.dir.join(format!("node{host}/{file}"));
            assert!(
                std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
                "{} is missing or empty",
                path.display()
            );
        }
    }
    let converged = mirrorset_with(&hosts, secret, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        converged.stdout.contains("No changes"),
        "{}",
        converged.stdout
    );
}
