//! Nodes reached as OpenSSH's client configuration says (issue 14): ssh_config
//! aliases with HostName, User, IdentityFile, UserKnownHostsFile and
//! ProxyJump, in a HOME of the test's own. The nodes' sshd accept logins
//! only from the jump host, so nothing works unless every hop does.

use std::path::Path;

use crate::apply::mirrorset_on;
use crate::hosts::TestHosts;
use crate::test::{Output, flatten};

const PASSPHRASE: &str = "jump-test-passphrase";

/// A HOME whose ~/.ssh/config names node I `dbI`, reached through `jump`
/// (host 4); the cluster file leaves user, key and known_hosts to it.
fn home(hosts: &TestHosts) -> String {
    let home = hosts.dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let client = hosts.dir.join("client");
    let mut config = format!(
        "Host db1 db2 db3 jump\n  User postgres\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n\nHost db*\n  ProxyJump jump\n\nHost jump\n  HostName {jump}\n",
        key = client.join("id_ed25519").display(),
        known = client.join("known_hosts").display(),
        jump = hosts.addr(4),
    );
    for host in 1..=3 {
        config.push_str(&format!(
            "\nHost db{host}\n  HostName {}\n",
            hosts.addr(host)
        ));
    }
    std::fs::write(home.join(".ssh/config"), config).unwrap();
    home.to_str().unwrap().to_owned()
}

/// The hosts' cluster file for nodes 1-3 with `ssh_host = "dbI"` and no
/// `[defaults.ssh]`: how to log in is ssh_config's to say.
fn cluster_file(hosts: &TestHosts) -> String {
    let toml = hosts.cluster_toml();
    let toml = toml[..toml.find("\n[nodes.node4]").unwrap()].to_owned();
    let start = toml.find("[defaults.ssh]").unwrap();
    let end = start + toml[start..].find("\n\n").unwrap();
    let mut toml = format!("{}{}", &toml[..start], &toml[end + 2..]);
    for host in 1..=3 {
        let line = format!("host     = \"{}\"\n", hosts.addr(host));
        toml = toml.replace(&line, &format!("{line}ssh_host = \"db{host}\"\n"));
    }
    assert_eq!(toml.matches("ssh_host").count(), 3, "{toml}");
    toml
}

fn run(home: &str, file: &Path, args: &[&str], status: i32) -> Output {
    mirrorset_on(
        file,
        &[("HOME", home), ("MIRRORSET_TEST_PASSPHRASE", PASSPHRASE)],
        args,
        status,
    )
}

#[test]
fn check_plan_and_apply_reach_nodes_only_through_a_jump_host() {
    let hosts = TestHosts::up(83, 4);
    hosts.ctl("gateway", 4);
    for host in 1..=3 {
        hosts.ctl_with("behind", host, 4);
        // The setup is real: a direct login is refused.
        assert!(hosts.openssh_login(host, 22).is_err());
    }
    let home = home(&hosts);
    let file = hosts.dir.join("jump.toml");
    std::fs::write(&file, cluster_file(&hosts)).unwrap();

    let checked = run(&home, &file, &["check", "FILE"], 0);
    for host in 1..=3 {
        assert!(
            checked
                .stdout
                .lines()
                .any(|line| line.starts_with("ok") && line.contains(&format!("node{host}"))),
            "{}",
            checked.stdout
        );
    }
    run(&home, &file, &["apply", "FILE", "--auto-approve"], 0);
    let plan = run(&home, &file, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        plan.stdout
            .contains("No changes: the cluster matches the file."),
        "{}",
        plan.stdout
    );
    assert_eq!(
        hosts.psql(
            1,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ),
        "2"
    );
    // Every node was reached through the jump host, which logged it.
    let jump_log = std::fs::read_to_string(hosts.dir.join("node4/ssh/sshd.log")).unwrap();
    for host in 1..=3 {
        assert!(
            jump_log.contains(&format!("target {} port 22", hosts.addr(host))),
            "no forwarded connection to node{host} in the jump host's log"
        );
    }

    // ssh.config names the file to read instead, as ssh -F: with the
    // user's own config empty, the nodes are still reached through the jump.
    let own = hosts.dir.join("ssh_config");
    std::fs::rename(Path::new(&home).join(".ssh/config"), &own).unwrap();
    std::fs::write(Path::new(&home).join(".ssh/config"), "").unwrap();
    run(&home, &file, &["check", "FILE"], 1);
    let named = cluster_file(&hosts).replacen(
        "[defaults.postgres]",
        &format!(
            "[defaults.ssh]\nconfig = \"{}\"\n\n[defaults.postgres]",
            own.display()
        ),
        1,
    );
    std::fs::write(&file, named).unwrap();
    run(&home, &file, &["check", "FILE"], 0);

    // A changed host key on the inner hop is refused, naming the node.
    hosts.ctl("rekey", 2);
    let refused = run(&home, &file, &["check", "FILE"], 1);
    assert!(
        flatten(&refused.stdout).contains(&format!(
            "node2: the host key of {} HAS CHANGED",
            hosts.addr(2)
        )),
        "{}",
        refused.stdout
    );
}
