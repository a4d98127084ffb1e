//! `[[sync]]` on real hosts: a key file and a folder of packages copied
//! from the primary to every mirror (checksums and modes equal, a file
//! larger than a chunk included), a switchover then a package removed on
//! the new primary and so on the mirrors, a promotion refused while the
//! target lacks the key, and the key's content in no output or record.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;

const KEY: &str = "KEY-CONTENT-7f3a9c-never-shown";

fn sha256(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn packages(hosts: &TestHosts, node: u8) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(hosts.dir.join(format!("node{node}/packages")))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".zip"))
        .collect();
    names.sort();
    names
}

fn node_dir(hosts: &TestHosts, node: u8, rest: &str) -> PathBuf {
    hosts.dir.join(format!("node{node}/{rest}"))
}

#[test]
fn synced_files_follow_the_primary_and_a_promotion_waits_for_the_key() {
    let hosts = TestHosts::up(78, 3);
    let dir = hosts.dir.display().to_string();
    for node in 1..=3 {
        std::fs::create_dir_all(node_dir(&hosts, node, "app")).unwrap();
        std::fs::create_dir_all(node_dir(&hosts, node, "packages")).unwrap();
    }
    std::fs::write(node_dir(&hosts, 1, "app/app_key.key"), KEY).unwrap();
    std::fs::set_permissions(
        node_dir(&hosts, 1, "app/app_key.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(node_dir(&hosts, 1, "packages/a.zip"), b"package a").unwrap();
    std::fs::write(node_dir(&hosts, 1, "packages/b.zip"), b"package b").unwrap();
    // Larger than a chunk: copied in three.
    let big: Vec<u8> = (0..9 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    std::fs::write(node_dir(&hosts, 1, "packages/c.zip"), &big).unwrap();
    std::fs::write(node_dir(&hosts, 3, "packages/stale.zip"), b"old").unwrap();
    for node in 1..=3 {
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(node_dir(&hosts, node, "app"))
            .arg(node_dir(&hosts, node, "packages"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut toml = hosts.cluster_toml();
    toml.push_str(&format!(
        "\n[[sync]]\npath      = \"{dir}/{{node}}/app/app_key.key\"\nmode      = \"0600\"\nsensitive = true\n\n[[sync]]\npath   = \"{dir}/{{node}}/packages/*.zip\"\ndelete = true\n"
    ));
    std::fs::write(hosts.cluster_file(), &toml).unwrap();

    let mut outputs = Vec::new();
    let plan = mirrorset(&hosts, &["plan", "FILE", "--json"], 0);
    outputs.push(plan.stdout.clone());
    let applied = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(applied.stdout.contains("of 3 chunks"), "{}", applied.stdout);
    outputs.push(applied.stdout);
    assert_converged(&hosts);
    for mirror in [2, 3] {
        let key = node_dir(&hosts, mirror, "app/app_key.key");
        assert_eq!(
            sha256(&key),
            sha256(&node_dir(&hosts, 1, "app/app_key.key"))
        );
        assert_eq!(mode(&key), 0o600);
        assert_eq!(packages(&hosts, mirror), ["a.zip", "b.zip", "c.zip"]);
        for name in ["a.zip", "b.zip", "c.zip"] {
            let copy = node_dir(&hosts, mirror, &format!("packages/{name}"));
            let source = node_dir(&hosts, 1, &format!("packages/{name}"));
            assert_eq!(sha256(&copy), sha256(&source), "{name}");
            assert_eq!(mode(&copy), mode(&source), "{name}");
        }
    }

    // A switchover; then a package removed on the new primary goes everywhere.
    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    outputs.push(mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0).stdout);
    assert_converged(&hosts);
    std::fs::remove_file(node_dir(&hosts, 2, "packages/b.zip")).unwrap();
    outputs.push(mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0).stdout);
    assert_converged(&hosts);
    for node in 1..=3 {
        assert_eq!(packages(&hosts, node), ["a.zip", "c.zip"], "node{node}");
    }

    // node3 loses its key: promoting it is refused until the copy is back.
    std::fs::remove_file(node_dir(&hosts, 3, "app/app_key.key")).unwrap();
    mirrorset(&hosts, &["promote", "node3", "FILE", "--no-plan"], 0);
    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    assert!(
        refused
            .stdout
            .contains("node3 cannot be promoted: its copy of")
            && refused
                .stdout
                .contains("app_key.key ([[sync]]) is not node2's (missing)"),
        "{}",
        refused.stdout
    );
    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    outputs.push(mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0).stdout);
    assert_converged(&hosts);
    assert_eq!(
        sha256(&node_dir(&hosts, 3, "app/app_key.key")),
        sha256(&node_dir(&hosts, 2, "app/app_key.key"))
    );

    // The key's content is in the key files and nowhere mirrorset writes.
    for output in &outputs {
        assert!(!output.contains(KEY));
    }
    let history = mirrorset(&hosts, &["history", "FILE", "--json"], 0);
    assert!(!history.stdout.contains(KEY));
    let grep = std::process::Command::new("grep")
        .args(["-rl", KEY])
        .arg(&hosts.dir)
        .output()
        .unwrap();
    let mut holders: Vec<String> = String::from_utf8_lossy(&grep.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    holders.sort();
    assert_eq!(
        holders,
        (1..=3)
            .map(|node| node_dir(&hosts, node, "app/app_key.key")
                .display()
                .to_string())
            .collect::<Vec<_>>(),
        "no backup, temporary file or record holds the key"
    );
}

/// A copy belongs to the primary's file's owner, or to `owner`. Handing it
/// to another user than the PostgreSQL OS user takes a root login: refused
/// with what to do until the mirror's `ssh.user` is root, then done, and a
/// copy whose owner alone differs is made again.
#[test]
fn a_copy_belongs_to_the_owner_and_only_root_hands_it_over() {
    let hosts = TestHosts::up(81, 2);
    let dir = hosts.dir.display().to_string();
    for node in 1..=2 {
        std::fs::create_dir_all(node_dir(&hosts, node, "app")).unwrap();
    }
    std::fs::write(node_dir(&hosts, 1, "app/owned.conf"), "setting=1\n").unwrap();
    let chown = |owner: &str, path: PathBuf| {
        let status = std::process::Command::new("chown")
            .arg(owner)
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    chown("postgres:postgres", node_dir(&hosts, 2, "app"));
    chown("daemon", node_dir(&hosts, 1, "app/owned.conf"));
    let owner = |node: u8| {
        let output = std::process::Command::new("stat")
            .args(["-c", "%U"])
            .arg(node_dir(&hosts, node, "app/owned.conf"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let sync = format!("\n[[sync]]\npath = \"{dir}/{{node}}/app/owned.conf\"\n");
    std::fs::write(
        hosts.cluster_file(),
        format!("{}{sync}", hosts.cluster_toml()),
    )
    .unwrap();

    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    assert!(
        refused.stdout.contains(&format!(
            "node2: {dir}/node2/app/owned.conf ([[sync]]) must belong to daemon, and node2 can hand a file to daemon only when mirrorset logs in to it as root (it logs in as postgres); set ssh.user = \"root\" for node2, or owner = \"postgres\""
        )),
        "{}",
        refused.stdout
    );

    let as_root = format!(
        "{}\n[nodes.node2.ssh]\nuser = \"root\"\n{sync}",
        hosts.cluster_toml()
    );
    std::fs::write(hosts.cluster_file(), &as_root).unwrap();
    let applied = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert!(
        applied.stdout.contains("owner daemon"),
        "{}",
        applied.stdout
    );
    assert_converged(&hosts);
    assert_eq!(owner(2), "daemon");

    // `owner` names the copies' owner: only the owner differs, so the
    // copy is made again, handed to postgres.
    std::fs::write(
        hosts.cluster_file(),
        format!("{as_root}owner = \"postgres\"\n"),
    )
    .unwrap();
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        plan.stdout.contains("owner daemon -> postgres"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert_eq!(
        (owner(1), owner(2)),
        ("daemon".to_owned(), "postgres".to_owned())
    );

    // An owner the mirror does not have: the copy fails naming it, and
    // neither the copy nor a temporary file is left.
    std::fs::write(
        hosts.cluster_file(),
        format!("{as_root}owner = \"nosuchuser\"\n"),
    )
    .unwrap();
    let failed = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        said.contains("cannot give the copy to nosuchuser")
            && said.contains("does that user exist"),
        "{said}"
    );
    assert_eq!(owner(2), "postgres");
    assert!(!node_dir(&hosts, 2, "app/owned.conf.mirrorset-copy").exists());
}
