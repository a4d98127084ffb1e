//! `mirrorset import` of a cluster built by hand the way seed 004 builds
//! one (issue 14): a replication role of its own with an md5 pg_hba line,
//! a slot named by hand (dr_slot), the password inside the mirror's
//! primary_conninfo. The file import writes validates, its plan is only the
//! takeover (no clone, no restart), a writer on the primary loses no row
//! through the apply, and the password leaves postgresql.auto.conf.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::apply::{mirrorset_on, wait_replayed};
use crate::hosts::{Postgres, TestHosts, run};
use crate::test::Output;

const PASSWORD: &str = "mfa-secret-004";

/// Seed 004's steps on the test hosts: settings and a restart on the
/// primary, its role, slot and md5 line, pg_basebackup -R onto the mirror.
fn build_by_hand(hosts: &TestHosts, tls: bool, superuser: bool) {
    let mut settings = "\nwal_level = replica\nwal_log_hints = on\nmax_wal_senders = 10\nhot_standby_feedback = on\nwal_keep_size = '160MB'\n".to_owned();
    if tls {
        // A self-signed certificate: libpq's default sslmode=prefer then encrypts.
        let data = hosts.dir.join("node1/data");
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-days",
            "2",
            "-subj",
            "/CN=node1",
            "-keyout",
            data.join("server.key").to_str().unwrap(),
            "-out",
            data.join("server.crt").to_str().unwrap(),
        ]));
        run(Command::new("chown")
            .args(["postgres:postgres"])
            .arg(data.join("server.key"))
            .arg(data.join("server.crt")));
        run(Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key")));
        settings.push_str("ssl = on\n");
    }
    for node in 1..=2 {
        let conf = hosts.dir.join(format!("node{node}/etc/postgresql.conf"));
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
    }
    hosts.ctl("stop-pg", 1);
    hosts.ctl("start-pg", 1);
    let superuser = if superuser { " SUPERUSER" } else { "" };
    hosts.psql(
        1,
        &format!("CREATE ROLE replicamfa LOGIN REPLICATION{superuser} PASSWORD '{PASSWORD}'"),
    );
    hosts.psql(1, "SELECT pg_create_physical_replication_slot('dr_slot')");
    let hba = hosts.dir.join("node1/etc/pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).unwrap();
    text.push_str(&format!(
        "host replication replicamfa {}/32 md5\n",
        hosts.addr(2)
    ));
    std::fs::write(&hba, text).unwrap();
    hosts.psql(1, "SELECT pg_reload_conf()");
    hosts.psql(1, "CREATE TABLE writes (n int PRIMARY KEY)");
    run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "env",
        &format!("LD_PRELOAD={}", hosts.dir.join("bindaddr.so").display()),
        &format!("MIRRORSET_BIND_ADDR={}", hosts.addr(2)),
        &format!("{}/pg_basebackup", hosts.pg_bin()),
        "-d",
        &format!(
            "host={} port=5432 user=replicamfa password={PASSWORD}",
            hosts.addr(1)
        ),
        "-D",
        hosts.dir.join("node2/data").to_str().unwrap(),
        "-R",
        "-S",
        "dr_slot",
        "-X",
        "stream",
    ]));
    hosts.ctl("start-pg", 2);
    wait_replayed(
        hosts,
        2,
        "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'",
        "1",
    );
}

/// mirrorset with the test's HOME and passphrase; "FILE" is the imported file.
fn mirrorset(hosts: &TestHosts, home: &str, args: &[&str], status: i32) -> Output {
    mirrorset_on(
        &hosts.dir.join("imported.toml"),
        &[("HOME", home), ("SEED004_REPL_PASSPHRASE", PASSWORD)],
        args,
        status,
    )
}

#[test]
fn a_cluster_built_by_hand_is_imported_and_taken_over_without_a_clone_or_restart() {
    imported_and_taken_over_on(Postgres::V15, 89);
}

#[test]
fn a_cluster_built_by_hand_is_imported_and_taken_over_on_postgresql_18() {
    imported_and_taken_over_on(Postgres::V18, 90);
}

fn imported_and_taken_over_on(postgres: Postgres, net: u8) {
    let hosts = TestHosts::up_on(postgres, net, 2);
    // PostgreSQL 18 from PyPI has no OpenSSL: TLS on 15 only. On 18 the
    // mirrors stream as a superuser, which mirrorset does not take over.
    let tls = postgres == Postgres::V15;
    let superuser = postgres == Postgres::V18;
    build_by_hand(&hosts, tls, superuser);
    let auto_conf = hosts.dir.join("node2/data/postgresql.auto.conf");
    assert!(
        std::fs::read_to_string(&auto_conf)
            .unwrap()
            .contains(PASSWORD)
    );
    // How to log in is ssh_config's: the imported file names no key.
    let home = hosts.dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host 127.0.{net}.*\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            hosts.dir.join("client/id_ed25519").display(),
            hosts.known_hosts().display()
        ),
    )
    .unwrap();
    let home = home.to_str().unwrap();

    let source = format!("postgres@{}", hosts.addr(1));
    let imported = mirrorset(&hosts, home, &["import", &source, "--name", "seed004"], 0);
    assert!(!imported.stdout.contains(PASSWORD) && !imported.stderr.contains(PASSWORD));
    let user = if superuser {
        "user = \"replicator\""
    } else {
        "user = \"replicamfa\""
    };
    assert_eq!(
        imported
            .stdout
            .contains("# The mirrors stream as replicamfa, a superuser"),
        superuser,
        "{}",
        imported.stdout
    );
    for expected in [
        user,
        "passphrase = { env = \"SEED004_REPL_PASSPHRASE\" }",
        "slot = \"dr_slot\"",
        "primary = \"db1\"",
    ] {
        assert!(
            imported.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            imported.stdout
        );
    }
    assert_eq!(
        imported
            .stdout
            .contains("# The mirrors stream over TLS now."),
        tls,
        "{}",
        imported.stdout
    );
    std::fs::write(hosts.dir.join("imported.toml"), &imported.stdout).unwrap();
    mirrorset(&hosts, home, &["validate", "FILE"], 0);

    let plan = mirrorset(&hosts, home, &["plan", "FILE", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let kinds: Vec<String> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| format!("{} {}", action["node"], action["kind"]))
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|kind| kind.ends_with("\"clone\"") || kind.ends_with("\"restart\"")),
        "the takeover clones or restarts: {kinds:?}"
    );
    assert!(
        kinds.contains(&"\"db2\" \"reset_setting\"".to_owned()),
        "{kinds:?}"
    );

    // A writer on the primary all through the apply: every acknowledged row stays.
    let stop = AtomicBool::new(false);
    let acknowledged = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acknowledged = 0u32;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                if hosts
                    .try_psql(1, &format!("INSERT INTO writes VALUES ({n})"))
                    .is_some()
                {
                    acknowledged += 1;
                }
            }
            acknowledged
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        mirrorset(&hosts, home, &["apply", "FILE", "--auto-approve"], 0);
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(acknowledged > 0);
    let acknowledged = acknowledged.to_string();
    assert_eq!(hosts.psql(1, "SELECT count(*) FROM writes"), acknowledged);
    wait_replayed(&hosts, 2, "SELECT count(*) FROM writes", &acknowledged);

    let converged = mirrorset(&hosts, home, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        converged.stdout.contains("No changes"),
        "{}",
        converged.stdout
    );
    let streaming_as = if superuser {
        "replicator"
    } else {
        "replicamfa"
    };
    assert_eq!(
        hosts.psql(1, "SELECT usename FROM pg_stat_replication"),
        streaming_as
    );
    // The superuser is left as it was.
    assert_eq!(
        hosts.psql(
            1,
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'replicamfa'"
        ),
        if superuser { "t" } else { "f" }
    );
    for node in 1..=2 {
        let auto_conf = hosts
            .dir
            .join(format!("node{node}/data/postgresql.auto.conf"));
        assert!(
            !std::fs::read_to_string(&auto_conf)
                .unwrap()
                .contains(PASSWORD),
            "node{node}'s postgresql.auto.conf still holds the password"
        );
    }
}
