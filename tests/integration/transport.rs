//! The transport layer on real nodes: atomic writes that keep mode and owner,
//! reads, moves, SQL with peer authentication over the SSH session, the local
//! transport, and `become` through sudo.

use std::sync::atomic::{AtomicBool, Ordering};

use mirrorset::model::{Access, quote_identifier};
use mirrorset::transport::{self, AccessOptions, RemoteCommand, SqlSession, Transport};

use crate::hosts::TestHosts;
use crate::test::StopOnDrop;

fn open(hosts: &TestHosts, node: usize) -> (mirrorset::model::Cluster, Box<dyn Transport>) {
    let cluster = hosts.cluster();
    let transport = transport::open(&cluster.nodes[node], &AccessOptions::default()).unwrap();
    (cluster, transport)
}

#[test]
fn files_are_written_atomically_keeping_mode_and_owner() {
    let hosts = TestHosts::up(25, 1);
    let (_, node) = open(&hosts, 0);
    let path = format!("{}/node1/etc/mirrorset-test.conf", hosts.dir.display());

    assert_eq!(node.read_file(&path).unwrap(), None);
    assert_eq!(node.stat(&path).unwrap(), None);
    let outcome = node.write_file_atomic(&path, b"first\n", 0o640).unwrap();
    assert_eq!(outcome.backup, None);
    let stat = node.stat(&path).unwrap().unwrap();
    assert_eq!(
        (stat.mode, stat.owner.as_str(), stat.size),
        (0o640, "postgres", 6)
    );

    // An existing file keeps its mode; the previous version is kept beside it.
    node.exec_as_postgres(RemoteCommand::new("chmod").args(["600", &path]))
        .unwrap();
    let outcome = node.write_file_atomic(&path, b"second\n", 0o644).unwrap();
    let backup = outcome.backup.expect("a backup of the first version");
    assert!(
        backup.starts_with(&format!("{path}.mirrorset-")),
        "{backup}"
    );
    assert_eq!(node.read_file(&backup).unwrap().unwrap(), b"first\n");
    assert_eq!(node.read_file(&path).unwrap().unwrap(), b"second\n");
    assert_eq!(node.stat(&path).unwrap().unwrap().mode, 0o600);

    // A reader on another session never sees a half-written file.
    let (_, reader) = open(&hosts, 0);
    let big_a = vec![b'a'; 512 * 1024];
    let big_b = vec![b'b'; 512 * 1024];
    node.write_file_atomic(&path, &big_a, 0o600).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 5 {
                let content = reader.read_file(&path).unwrap().unwrap();
                assert!(
                    content == big_a || content == big_b,
                    "a torn read of {} bytes",
                    content.len()
                );
                reads += 1;
            }
        });
        let _stop = StopOnDrop(&done);
        for round in 0..10 {
            node.write_file_atomic(&path, if round % 2 == 0 { &big_b } else { &big_a }, 0o600)
                .unwrap();
        }
    });

    // Nothing is left behind but the file and its backups; moving aside never deletes.
    let listing = node
        .exec(&RemoteCommand::new("ls").args(["-A", &format!("{}/node1/etc", hosts.dir.display())]))
        .unwrap()
        .stdout_text();
    assert!(
        !listing.contains(".mirrorset-test.conf.mirrorset-"),
        "temp file left: {listing}"
    );
    let moved = node.move_aside(&path).unwrap().expect("the file was there");
    assert_eq!(node.read_file(&path).unwrap(), None);
    assert_eq!(node.read_file(&moved).unwrap().unwrap().len(), 512 * 1024);
    assert_eq!(node.move_aside(&path).unwrap(), None);
}

#[test]
fn exec_reports_status_signal_and_keeps_arguments_literal() {
    let hosts = TestHosts::up(26, 1);
    let (cluster, node) = open(&hosts, 0);
    let output = node
        .exec(&RemoteCommand::new("printf").args(["%s|", "a b", "$(id)", "it's"]))
        .unwrap();
    assert_eq!(output.stdout_text(), "a b|$(id)|it's|");
    let output = node
        .exec(&RemoteCommand::new("sh").args(["-c", "echo oops >&2; exit 7"]))
        .unwrap();
    assert_eq!(
        (output.status, output.stderr_text().as_str()),
        (Some(7), "oops")
    );
    let output = node
        .exec(&RemoteCommand::new("sh").args(["-c", "kill -TERM $$"]))
        .unwrap();
    assert!(!output.success());
    let output = node
        .exec(&RemoteCommand::new("cat").stdin(b"through stdin".to_vec()))
        .unwrap();
    assert_eq!(output.stdout_text(), "through stdin");
    let output = node
        .exec(
            &RemoteCommand::new("sleep")
                .arg("30")
                .timeout(std::time::Duration::from_secs(1)),
        )
        .unwrap();
    assert_eq!(
        output.status,
        Some(124),
        "the node's timeout ends a hung program"
    );

    // SQL over the same session: peer authentication as postgres, bound parameters, quoted names.
    let sql = SqlSession::connect(&*node, &cluster.nodes[0].postgres).unwrap();
    let row = sql
        .query_one(
            "SELECT current_user::text, inet_client_addr() IS NULL, $1::text",
            &[&"bound; DROP TABLE x"],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert!(row.get::<_, bool>(1), "connected through the unix socket");
    assert_eq!(row.get::<_, String>(2), "bound; DROP TABLE x");
    let table = quote_identifier("odd \"name\"");
    sql.execute(&format!("CREATE TABLE {table} (n int)"), &[])
        .unwrap();
    sql.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&42i32])
        .unwrap();
    let row = sql
        .query_one(&format!("SELECT n FROM {table}"), &[])
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    // A verifier PostgreSQL made itself is recognised, and only for its passphrase.
    sql.execute("CREATE ROLE scram_check PASSWORD 'made by the server'", &[])
        .unwrap();
    let row = sql
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_check'",
            &[],
        )
        .unwrap();
    let stored = mirrorset::model::Secret::new(row.get::<_, String>(0));
    assert!(mirrorset::model::verifier_matches(
        &stored,
        &mirrorset::model::Secret::new("made by the server".into())
    ));
    assert!(!mirrorset::model::verifier_matches(
        &stored,
        &mirrorset::model::Secret::new("made by the Server".into())
    ));
    // The session stays usable for commands while the SQL stream is open.
    assert!(node.exec(&RemoteCommand::new("true")).unwrap().success());
    assert_eq!(sql.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
}

#[test]
fn local_transport_runs_as_the_postgres_user() {
    let hosts = TestHosts::up(27, 1);
    let mut cluster = hosts.cluster();
    cluster.nodes[0].access = Access::Local;
    let node = transport::open(&cluster.nodes[0], &AccessOptions::default()).unwrap();
    let output = node
        .exec_as_postgres(RemoteCommand::new("id").args(["-un"]))
        .unwrap();
    assert_eq!(output.stdout_text(), "postgres\n");
    let path = format!("{}/node1/etc/local-test.conf", hosts.dir.display());
    node.write_file_atomic(&path, b"x = 1\n", 0o600).unwrap();
    let stat = node.stat(&path).unwrap().unwrap();
    assert_eq!((stat.mode, stat.owner.as_str()), (0o600, "postgres"));
    let sql = SqlSession::connect(&*node, &cluster.nodes[0].postgres).unwrap();
    let row = sql.query_one("SELECT current_user::text", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
}

/// Logged in as root, commands and SQL run as postgres through `sudo -n -u`.
#[test]
fn become_runs_commands_and_sql_as_the_postgres_user() {
    let hosts = TestHosts::up(28, 1);
    let mut toml = hosts.cluster_toml();
    toml.push_str("\n[nodes.node1.ssh]\nuser = \"root\"\n");
    std::fs::write(hosts.cluster_file(), toml).unwrap();
    let (cluster, node) = open(&hosts, 0);
    assert_eq!(cluster.nodes[0].ssh.user.as_deref(), Some("root"));
    let output = node.exec(&RemoteCommand::new("id").args(["-un"])).unwrap();
    assert_eq!(output.stdout_text(), "root\n");
    let output = node
        .exec_as_postgres(RemoteCommand::new("id").args(["-un"]))
        .unwrap();
    assert_eq!(output.stdout_text(), "postgres\n");
    let sql = SqlSession::connect(&*node, &cluster.nodes[0].postgres).unwrap();
    let row = sql
        .query_one("SELECT current_user::text, $1::int + 1", &[&41i32])
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, i32>(1)),
        ("postgres", 42)
    );
}
