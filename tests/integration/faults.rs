//! Issue 12's fault matrix, end to end on real loopback hosts: each fault
//! injected while apply runs ends in a clear refusal that names the node
//! and says what to do, or in a re-run that converges; no data directory
//! is ever deleted (moved aside is fine), no clone outlives the apply that
//! started it, and no lock is left that the next run cannot take.
//!
//! A fault is injected when apply prints that a step starts. Short steps
//! (a file write, one SQL statement) may be done by the time the fault
//! lands; the step after them on that node then meets it, and every
//! assertion here holds either way.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::apply::{PASSPHRASE, assert_converged, mirrorset, wait_replayed};
use crate::hosts::TestHosts;
use crate::test::flatten;

/// Longer than any apply here takes; a run past it is killed and fails the test.
const LIMIT: Duration = Duration::from_secs(120);

/// How a watched run of mirrorset ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn says(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Sets its flag when dropped, even when the test panics meanwhile.
struct Finished<'a>(&'a Mutex<bool>);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = true;
    }
}

/// Runs `mirrorset ARGS` ("FILE" is the hosts' cluster file), handing each
/// line it prints, and its pid, to `on_line`. A run longer than `limit` is
/// killed and fails the test: a fault must never leave apply waiting.
fn watched(
    hosts: &TestHosts,
    args: &[&str],
    limit: Duration,
    mut on_line: impl FnMut(&str, u32),
) -> Run {
    let file = hosts.cluster_file();
    let file = file.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorset"))
        .args(
            args.iter()
                .map(|arg| if *arg == "FILE" { file } else { arg }),
        )
        .env("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let finished = Mutex::new(false);
    let killed = AtomicBool::new(false);
    let (stdout, stderr) = std::thread::scope(|scope| {
        let stderr = scope.spawn(move || {
            let mut text = String::new();
            err.read_to_string(&mut text).unwrap();
            text
        });
        scope.spawn(|| {
            let deadline = Instant::now() + limit;
            loop {
                std::thread::sleep(Duration::from_millis(100));
                // Under the lock, and before the child is reaped: the pid is still its.
                let done = finished.lock().unwrap();
                if *done {
                    return;
                }
                if Instant::now() > deadline {
                    send(pid, "KILL");
                    killed.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        let _finished = Finished(&finished);
        let mut stdout = String::new();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            stdout.push_str(&line);
            stdout.push('\n');
            on_line(&line, pid);
        }
        (stdout, stderr.join().unwrap())
    });
    let status = child.wait().unwrap();
    let run = Run {
        code: status.code(),
        stdout,
        stderr,
    };
    // Shown with the output of a failed test (or with --nocapture).
    eprintln!(
        "--- mirrorset {args:?} exited {:?}; its errors:\n{}",
        run.code, run.stderr
    );
    assert!(
        !killed.load(Ordering::SeqCst),
        "mirrorset {args:?} ran longer than {limit:?}\n{}",
        run.says()
    );
    run
}

/// Whether `line` says that step `what…` of `node` starts: "[5/31] node1:
/// restart ...", "[1/9] node2: move … aside, then clone … ...".
fn starts(line: &str, node: &str, what: &str) -> bool {
    let Some((_, step)) = line.split_once(&format!("] {node}: ")) else {
        return false;
    };
    line.starts_with('[')
        && line.ends_with(" ...")
        && (step.starts_with(what) || step.contains(&format!(", then {what}")))
}

/// Runs apply and calls `fault` with its pid when step `what…` of `node` starts.
fn apply_with_fault(hosts: &TestHosts, node: &str, what: &str, fault: impl FnOnce(u32)) -> Run {
    apply_with_fault_at(hosts, node, what, |_, pid| fault(pid))
}

/// Like `apply_with_fault`; the fault also gets the step's "[n/total]".
fn apply_with_fault_at(
    hosts: &TestHosts,
    node: &str,
    what: &str,
    fault: impl FnOnce(&str, u32),
) -> Run {
    let mut fault = Some(fault);
    let run = watched(
        hosts,
        &["apply", "FILE", "--auto-approve"],
        LIMIT,
        |line, pid| {
            if starts(line, node, what) {
                if let Some(fault) = fault.take() {
                    fault(line.split(' ').next().unwrap(), pid);
                }
            }
        },
    );
    assert!(
        fault.is_none(),
        "no step \"{node}: {what}\" started\n{}",
        run.says()
    );
    run
}

/// Sends `signal` (INT, TERM, KILL, …) to `pid`.
fn send(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// A live process (not a zombie): its pid, parent pid and argument list.
struct Process {
    pid: u32,
    parent: u32,
    argv: Vec<String>,
}

fn processes() -> Vec<Process> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            std::fs::read_to_string(entry.path().join("stat")),
            std::fs::read(entry.path().join("cmdline")),
        ) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        found.push(Process {
            pid,
            parent: fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0),
            argv: cmdline
                .split(|b| *b == 0)
                .filter(|word| !word.is_empty())
                .map(|word| String::from_utf8_lossy(word).into_owned())
                .collect(),
        });
    }
    found
}

/// The live pg_basebackup processes cloning into host `host`'s data directory.
fn basebackups(hosts: &TestHosts, host: u8) -> Vec<Process> {
    let data = hosts.dir.join(format!("node{host}/data"));
    let data = data.to_str().unwrap();
    processes()
        .into_iter()
        .filter(|p| {
            p.argv
                .first()
                .is_some_and(|a| a.ends_with("/pg_basebackup"))
                && p.argv.iter().any(|a| a == data)
        })
        .collect()
}

/// Waits until host `host` has a clone running with at least `count` processes (pg_basebackup and its WAL streamer).
fn wait_for_basebackup(hosts: &TestHosts, host: u8, count: usize) -> Vec<Process> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = basebackups(hosts, host);
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no pg_basebackup with {count} processes into node{host}'s data directory"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// No pg_basebackup into host `host`'s data directory is left running (within 5 s).
fn assert_no_clone_left(hosts: &TestHosts, host: u8) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = basebackups(hosts, host);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a pg_basebackup into node{host}'s data directory outlived its apply: {:?}",
            left.iter().map(|p| p.pid).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills host `host`'s sshd like a crash of the daemon: its listener and the
/// processes serving its open connections, at once (ctl.sh stop-sshd does
/// the same, a shell script's start-up later). What they started runs on.
fn kill_sshd(hosts: &TestHosts, host: u8) {
    let pid_file = hosts.dir.join(format!("node{host}/ssh/sshd.pid"));
    let listener: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut pids = vec![listener.to_string()];
    pids.extend(
        processes()
            .iter()
            .filter(|p| p.parent == listener)
            .map(|p| p.pid.to_string()),
    );
    let status = Command::new("kill")
        .args(["-s", "TERM"])
        .args(&pids)
        .status()
        .unwrap();
    assert!(status.success(), "kill {pids:?}");
}

/// Host `host`'s postmaster pid, from its data directory's postmaster.pid.
fn postmaster(hosts: &TestHosts, host: u8) -> u32 {
    let file = hosts.dir.join(format!("node{host}/data/postmaster.pid"));
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Starts host `host`'s PostgreSQL after a kill -9: the old server's
/// backends leave its shared memory within moments of their postmaster.
fn start_pg_after_crash(hosts: &TestHosts, host: u8) {
    let ctl = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/ctl.sh");
    for _ in 0..50 {
        let started = Command::new("bash")
            .arg(&ctl)
            .args([
                "--dir",
                hosts.dir.to_str().unwrap(),
                "start-pg",
                &host.to_string(),
            ])
            .output()
            .unwrap();
        if started.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("node{host}'s PostgreSQL does not start again");
}

/// How many directories of each node hold a cluster (PG_VERSION): its data
/// directory and every copy moved aside. A fault may only add to them.
fn clusters(hosts: &TestHosts) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(&hosts.dir).unwrap().flatten() {
        let node = entry.file_name().to_string_lossy().into_owned();
        if !node.starts_with("node") || !entry.path().is_dir() {
            continue;
        }
        let count = std::fs::read_dir(entry.path())
            .unwrap()
            .flatten()
            .filter(|dir| {
                let name = dir.file_name().to_string_lossy().into_owned();
                (name == "data" || name.starts_with("data.mirrorset-moved-"))
                    && dir.path().join("PG_VERSION").is_file()
            })
            .count();
        counts.insert(node, count);
    }
    counts
}

/// No data directory went away: every node has as many as `before`, and
/// the primary's is whole.
fn assert_kept(hosts: &TestHosts, before: &BTreeMap<String, usize>, primary: u8) {
    let now = clusters(hosts);
    for (node, count) in before {
        assert!(
            now.get(node).copied().unwrap_or(0) >= *count,
            "{node} lost a data directory: {before:?} before, {now:?} now"
        );
    }
    let control = hosts
        .dir
        .join(format!("node{primary}/data/global/pg_control"));
    assert!(control.is_file(), "{} is gone", control.display());
}

/// The locks left on the nodes (`<state_dir>/mirrorset.lock`).
fn locks(hosts: &TestHosts) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(&hosts.dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path().join("mirrorset.lock"))
        .filter(|lock| lock.exists())
        .collect();
    found.sort();
    found
}

/// A failure that names `node`, says `cause` and what to do.
fn assert_failed(run: &Run, node: &str, cause: &str) {
    let flat = flatten(&run.stderr);
    assert_eq!(run.code, Some(1), "{}", run.says());
    assert!(
        flat.contains(&format!("{node}: {cause}")) && flat.contains("run apply again"),
        "expected \"{node}: {cause}\" and what to do\n{}",
        run.says()
    );
}

/// The next apply succeeds, takes whatever lock a dead apply left, ends
/// with a converged cluster and leaves no lock; returns its output.
fn rerun_converges(hosts: &TestHosts) -> crate::test::Output {
    let left = locks(hosts);
    let output = mirrorset(hosts, &["apply", "FILE", "--auto-approve"], 0);
    for lock in &left {
        let node = lock
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        assert!(
            output.stderr.contains(&format!(
                "{node}: removing the lock of an apply that ended without releasing it"
            )),
            "{}",
            output.stderr
        );
    }
    assert_converged(hosts);
    assert_eq!(locks(hosts), Vec::<PathBuf>::new());
    assert_no_marker_copies(hosts);
    output
}

/// A converged node has no clone marker, nor any copy of one.
fn assert_no_marker_copies(hosts: &TestHosts) {
    for entry in std::fs::read_dir(&hosts.dir).unwrap().flatten() {
        if !entry.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(".mirrorset-cloning"),
                "{} is left",
                file.path().display()
            );
        }
    }
}

/// Kills host `host`'s sshd when step `what…` of it starts: apply fails
/// naming the node and the lost connection; its lock there stays (nothing
/// could remove it) until the next apply takes it.
fn sshd_killed_at(hosts: &TestHosts, host: u8, what: &str, primary: u8) -> Run {
    let before = clusters(hosts);
    let node = format!("node{host}");
    let run = apply_with_fault(hosts, &node, what, |_| kill_sshd(hosts, host));
    assert_failed(&run, &node, "the SSH connection was lost");
    assert!(
        run.stderr.contains("Check that the node answers"),
        "{}",
        run.says()
    );
    assert_eq!(
        locks(hosts),
        [hosts.dir.join(format!("{node}/mirrorset.lock"))],
        "{}",
        run.says()
    );
    hosts.ctl("start-sshd", host);
    assert_kept(hosts, &before, primary);
    run
}

/// Interrupts apply (SIGINT) when step `what…` of `node` starts: that
/// step finishes, no other starts, every lock is released, and apply says
/// what was not done.
fn interrupted_at(hosts: &TestHosts, node: &str, what: &str, primary: u8) -> Run {
    interrupted_by("INT", hosts, node, what, primary)
}

/// The same with another signal: SIGTERM, as a service manager sends it.
fn interrupted_by(signal: &str, hosts: &TestHosts, node: &str, what: &str, primary: u8) -> Run {
    let before = clusters(hosts);
    let mut step = String::new();
    let run = apply_with_fault_at(hosts, node, what, |number, pid| {
        step = number.to_owned();
        send(pid, signal);
    });
    assert_eq!(run.code, Some(130), "{}", run.says());
    assert!(
        run.stderr
            .contains("interrupted: the running step finishes")
            && run.stdout.contains("every lock released. Not done:")
            && run.stdout.contains("Run apply again")
            && run.stdout.contains(&format!("{step} {node}: done in")),
        "{}",
        run.says()
    );
    assert_eq!(locks(hosts), Vec::<PathBuf>::new(), "{}", run.says());
    assert_kept(hosts, &before, primary);
    run
}

/// A `[settings]` table in the cluster file: a change every node reloads.
fn set_work_mem(hosts: &TestHosts, value: &str) {
    let file = std::fs::read_to_string(hosts.cluster_file()).unwrap();
    let edited = file.replacen(
        "max_slot_wal_keep_size = \"1GB\"\n",
        &format!("max_slot_wal_keep_size = \"1GB\"\n\n[settings]\nwork_mem = \"{value}\"\n"),
        1,
    );
    assert_ne!(edited, file);
    std::fs::write(hosts.cluster_file(), edited).unwrap();
}

/// A table of `rows` rows of 1.8 kB on host `host`, so that a clone takes a moment.
fn fill(hosts: &TestHosts, host: u8, rows: u32) {
    hosts.psql(
        host,
        &format!(
            "CREATE TABLE big AS SELECT g, repeat('x', 1800) AS pad FROM generate_series(1, {rows}) g"
        ),
    );
}

/// Drops host `primary`'s slot of `mirror` (its walsender ended first), so
/// the mirror streams again only after apply made it and its WAL receiver
/// retried (every 5 s).
fn drop_slot(hosts: &TestHosts, primary: u8, mirror: &str) {
    let dropped = (0..100).any(|_| {
        hosts.try_psql(
            primary,
            &format!(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{mirror}' AND active_pid IS NOT NULL"
            ),
        );
        std::thread::sleep(Duration::from_millis(50));
        hosts
            .try_psql(primary, &format!("SELECT pg_drop_replication_slot('{mirror}')"))
            .is_some()
    });
    assert!(dropped, "could not drop {mirror}'s slot");
}

/// Who is primary now: `host` takes writes, every other host replays them.
fn assert_primary(hosts: &TestHosts, host: u8, count: u8, table: &str) {
    assert_eq!(hosts.psql(host, "SELECT pg_is_in_recovery()"), "f");
    hosts.psql(
        host,
        &format!("CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (7)"),
    );
    for mirror in (1..=count).filter(|m| *m != host) {
        wait_replayed(hosts, mirror, &format!("SELECT n FROM {table}"), "7");
    }
}

/// sshd killed on the node during each kind of step: a restart, an SQL
/// step, a clone (which it does not outlive), a start, a wait for
/// streaming (which ends at once, not after its 300 s), a file write
/// then reload, and both halves of a switchover: the stop of the old
/// primary and the promotion of the new one.
#[test]
fn sshd_killed_during_each_kind_of_step_fails_naming_the_node_and_a_rerun_converges() {
    let hosts = TestHosts::up(63, 3);
    sshd_killed_at(&hosts, 1, "restart", 1);
    sshd_killed_at(&hosts, 1, "role replicator", 1);
    sshd_killed_at(&hosts, 2, "clone", 1);
    assert_no_clone_left(&hosts, 2);
    sshd_killed_at(&hosts, 2, "start", 1);
    rerun_converges(&hosts);

    drop_slot(&hosts, 1, "node3");
    let started = Instant::now();
    let run = sshd_killed_at(&hosts, 3, "wait until streaming", 1);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "apply waited for a node it had lost\n{}",
        run.says()
    );

    // Its step was the last: the next apply with work to do takes its lock.
    set_work_mem(&hosts, "8MB");
    let run = sshd_killed_at(&hosts, 2, "write", 1);
    assert!(
        run.stderr
            .contains("node3: removing the lock of an apply that ended without releasing it"),
        "{}",
        run.says()
    );
    rerun_converges(&hosts);
    for host in 1..=3 {
        assert_eq!(hosts.psql(host, "SHOW work_mem"), "8MB");
    }

    mirrorset(&hosts, &["promote", "node2", "FILE"], 0);
    sshd_killed_at(&hosts, 1, "stop", 1);
    rerun_converges(&hosts);
    assert_primary(&hosts, 2, 3, "after_stop_fault");

    mirrorset(&hosts, &["promote", "node1", "FILE"], 0);
    sshd_killed_at(&hosts, 1, "promote", 2);
    rerun_converges(&hosts);
    assert_primary(&hosts, 1, 3, "after_promote_fault");
}

/// SIGINT (or SIGTERM) during each kind of step finishes that step and stops (a
/// switchover only once the new primary takes writes); a second signal
/// stops at once, and ends the clone on the node with it.
#[test]
fn sigint_during_each_kind_of_step_stops_after_it_and_a_second_one_ends_the_clone_too() {
    let hosts = TestHosts::up(64, 3);
    interrupted_at(&hosts, "node1", "write", 1);
    interrupted_at(&hosts, "node1", "restart", 1);
    interrupted_at(&hosts, "node1", "role replicator", 1);
    interrupted_at(&hosts, "node2", "clone", 1);
    assert_no_clone_left(&hosts, 2);
    assert_no_clone_left(&hosts, 3);
    rerun_converges(&hosts);

    // SIGTERM is the same request as SIGINT.
    set_work_mem(&hosts, "8MB");
    interrupted_by("TERM", &hosts, "node1", "reload", 1);
    rerun_converges(&hosts);

    // Within a switchover's outage the interruption waits for the new primary.
    mirrorset(&hosts, &["promote", "node2", "FILE"], 0);
    let run = interrupted_at(&hosts, "node1", "stop", 2);
    assert!(
        run.stdout.contains("node2: done in") && run.stdout.contains("promoted: accepts writes"),
        "{}",
        run.says()
    );
    assert_eq!(hosts.psql(2, "SELECT pg_is_in_recovery()"), "f");
    rerun_converges(&hosts);
    assert_primary(&hosts, 2, 3, "after_interrupted_switchover");

    // node3 is cloned again (its old data kept aside by the test), and
    // apply is stopped twice while pg_basebackup runs.
    fill(&hosts, 2, 120_000);
    wait_replayed(&hosts, 3, "SELECT count(*) FROM big", "120000");
    hosts.ctl("stop-pg", 3);
    let data = hosts.dir.join("node3/data");
    std::fs::rename(&data, hosts.dir.join("node3/data.kept-by-test")).unwrap();
    let made = Command::new("install")
        .args(["-d", "-o", "postgres", "-g", "postgres", "-m", "0700"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(made.success());
    let before = clusters(&hosts);
    let mut clone_step = String::new();
    let run = apply_with_fault_at(&hosts, "node3", "clone", |step, pid| {
        clone_step = step.to_owned();
        wait_for_basebackup(&hosts, 3, 1);
        send(pid, "INT");
        std::thread::sleep(Duration::from_millis(300));
        send(pid, "INT");
    });
    assert_eq!(run.code, Some(130), "{}", run.says());
    assert!(
        flatten(&run.stderr).contains("stopped at once by a second signal")
            && !run.stdout.contains(&format!("{clone_step} node3: done in")),
        "{}",
        run.says()
    );
    assert_no_clone_left(&hosts, 3);
    // Nothing on the primary serves it any more: its slot is free.
    wait_replayed(
        &hosts,
        2,
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'node3'",
        "f",
    );
    assert_kept(&hosts, &before, 2);
    let output = rerun_converges(&hosts);
    // What the stopped clone copied is kept aside, and node3 is cloned again.
    assert!(
        output.stdout.contains("node3: move") && output.stdout.contains("aside, then clone"),
        "{}",
        output.stdout
    );
    wait_replayed(&hosts, 3, "SELECT count(*) FROM big", "120000");
}

/// pg_basebackup killed (kill -9) mid-clone, then the primary's postmaster
/// killed mid-clone: the clone fails naming the mirror, pg_basebackup's WAL
/// streamer does not outlive it, and once the primary runs again a re-run
/// converges.
#[test]
fn pg_basebackup_or_the_primary_killed_mid_clone_fails_naming_the_mirror_and_a_rerun_converges() {
    let hosts = TestHosts::up(65, 2);
    fill(&hosts, 1, 80_000);

    let before = clusters(&hosts);
    let mut streamer = false;
    let run = apply_with_fault(&hosts, "node2", "clone", |_| {
        // pg_basebackup and the WAL streamer it forks.
        let found = wait_for_basebackup(&hosts, 2, 2);
        let pids: Vec<u32> = found.iter().map(|p| p.pid).collect();
        let main = found
            .iter()
            .find(|p| !pids.contains(&p.parent))
            .expect("one pg_basebackup is the other's parent");
        streamer = true;
        send(main.pid, "KILL");
    });
    assert!(streamer);
    assert_failed(&run, "node2", "pg_basebackup from 127.0.65.1:5432 failed");
    assert_no_clone_left(&hosts, 2);
    assert_eq!(locks(&hosts), Vec::<PathBuf>::new());
    assert_kept(&hosts, &before, 1);

    let before = clusters(&hosts);
    let run = apply_with_fault(&hosts, "node2", "clone", |_| {
        wait_for_basebackup(&hosts, 2, 1);
        send(postmaster(&hosts, 1), "KILL");
    });
    assert_failed(&run, "node2", "pg_basebackup from 127.0.65.1:5432 failed");
    assert_no_clone_left(&hosts, 2);
    assert_eq!(locks(&hosts), Vec::<PathBuf>::new());
    assert_kept(&hosts, &before, 1);

    start_pg_after_crash(&hosts, 1);
    rerun_converges(&hosts);
    wait_replayed(&hosts, 2, "SELECT count(*) FROM big", "80000");
}

/// A small tmpfs mounted over a mirror's data directory, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!(
                "size={size},mode=0700,uid={},gid={}",
                id("-u"),
                id("-g")
            ))
            .arg("tmpfs")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", path.display());
        Self(path.to_owned())
    }

    fn unmount(&self) {
        let status = Command::new("umount").arg(&self.0).status().unwrap();
        assert!(status.success(), "umount {}", self.0.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Still mounted only when the test failed: never leave it behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// The postgres account's uid or gid (`id -u postgres`).
fn id(which: &str) -> String {
    let output = Command::new("id")
        .args([which, "postgres"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A mirror's disk fills up mid-clone: apply fails naming the mirror and
/// the full disk, the data directory stays, and with room again a re-run
/// converges.
#[test]
fn a_full_disk_on_a_mirror_fails_the_clone_naming_it_and_with_room_a_rerun_converges() {
    let hosts = TestHosts::up(66, 2);
    fill(&hosts, 1, 30_000);
    let data = hosts.dir.join("node2/data");
    let disk = SmallDisk::mount(&data, "30m");

    let run = watched(
        &hosts,
        &["apply", "FILE", "--auto-approve"],
        LIMIT,
        |_, _| {},
    );
    assert_failed(&run, "node2", "pg_basebackup from 127.0.66.1:5432 failed");
    assert!(
        flatten(&run.stderr).contains("No space left on device"),
        "{}",
        run.says()
    );
    assert!(data.is_dir(), "{} is gone", data.display());
    assert_no_clone_left(&hosts, 2);
    assert_eq!(locks(&hosts), Vec::<PathBuf>::new());
    assert!(hosts.dir.join("node1/data/global/pg_control").is_file());

    disk.unmount();
    rerun_converges(&hosts);
    wait_replayed(&hosts, 2, "SELECT count(*) FROM big", "30000");
}

/// Both applies of a pair started together end in success or in the
/// refusal of the one that waited for the other's lock, before any step of
/// its stale plan ran; no lock remains and the cluster matches the file.
fn two_applies_at_once(hosts: &TestHosts) -> usize {
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let both: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    watched(
                        hosts,
                        &["apply", "FILE", "--auto-approve"],
                        LIMIT,
                        |_, _| {},
                    )
                })
            })
            .collect();
        both.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let mut refused = 0;
    for run in &runs {
        if run.code == Some(0) {
            continue;
        }
        refused += 1;
        let flat = flatten(&run.stderr);
        assert!(
            run.code == Some(1)
                && flat.contains("apply::plan_outdated_by_lock")
                && flat.contains("was locked by")
                && flat.contains("none of its steps ran")
                && flat.contains("run apply again")
                && !run.stdout.contains(" ...\n"),
            "{}",
            run.says()
        );
    }
    assert!(refused < 2, "both were refused");
    assert!(
        runs.iter().any(|run| run.stdout.contains("Apply complete")),
        "neither applied"
    );
    assert_eq!(locks(hosts), Vec::<PathBuf>::new());
    assert_converged(hosts);
    refused
}

#[test]
fn two_applies_at_once_end_in_success_or_a_refusal_before_any_step() {
    let hosts = TestHosts::up(67, 3);
    let mut refused = two_applies_at_once(&hosts);
    mirrorset(&hosts, &["promote", "node2", "FILE"], 0);
    refused += two_applies_at_once(&hosts);
    assert_primary(&hosts, 2, 3, "after_two_switchovers");
    // Each pair either overlapped (one refused) or ran one after the other
    // (the second found nothing to do); here they start together.
    assert!(refused > 0, "the applies never overlapped");
}
