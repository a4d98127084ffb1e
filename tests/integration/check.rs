//! `mirrorset check` against real sshd and PostgreSQL on loopback hosts.

use crate::hosts::TestHosts;
use crate::test::Test;

#[test]
fn check_is_green_on_three_fresh_hosts() {
    let hosts = TestHosts::up(21, 3);
    let file = hosts.cluster_file();
    Test::new()
        .args(["check", file.to_str().unwrap()])
        .stdout(
            "cluster e2e21

    NODE   HOST        WANTED   ACCESS  POSTGRES  SERVER       ROLE     REACHES PRIMARY
ok  node1  127.0.21.1  primary  ok      15.18     running      primary  -
ok  node2  127.0.21.2  mirror   ok      15.18     not running  empty    yes
ok  node3  127.0.21.3  mirror   ok      15.18     not running  empty    yes

All 3 nodes are ready.
",
        )
        .stderr("")
        .run();
}

/// Each way a node can fail gets its own message naming the node, and one
/// node's failure never hides the others.
#[test]
fn each_node_failure_has_its_own_message() {
    let hosts = TestHosts::up(22, 7);
    hosts.ctl("stop-sshd", 2);
    hosts.ctl("rekey", 3);
    let known_hosts = std::fs::read_to_string(hosts.known_hosts()).unwrap();
    let without_node4: String = known_hosts
        .lines()
        .filter(|line| !line.starts_with(&format!("{} ", hosts.addr(4))))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(hosts.known_hosts(), without_node4).unwrap();
    let garbage_key = hosts.dir.join("garbage_key");
    std::fs::write(&garbage_key, "not a key\n").unwrap();
    let mut toml = hosts.cluster_toml();
    toml.push_str("\n[nodes.node5.ssh]\nuser = \"nobody\"\n");
    toml.push_str(&format!(
        "\n[nodes.node6.ssh]\nkey = \"{}\"\n",
        hosts.dir.join("missing_key").display()
    ));
    toml.push_str(&format!(
        "\n[nodes.node7.ssh]\nkey = \"{}\"\n",
        garbage_key.display()
    ));
    std::fs::write(hosts.cluster_file(), toml).unwrap();

    let output = Test::new()
        .args(["check", hosts.cluster_file().to_str().unwrap()])
        .status(1)
        .run();
    let node1 = row(&output.stdout, "node1");
    assert!(
        node1.starts_with("ok ") && node1.ends_with("running  primary  -"),
        "{node1}"
    );
    let expected_lines = [
        format!(
            "node2: cannot connect to SSH at {}:22: Connection refused (os error 111)",
            hosts.addr(2)
        ),
        format!(
            "node3: the host key of {} HAS CHANGED: it is now SHA256:",
            hosts.addr(3)
        ),
        format!("node4: the host key of {} (SHA256:", hosts.addr(4)),
        "  help: compare SHA256:".to_owned(),
        format!(
            "node5: SSH login as nobody@{}:22 was refused",
            hosts.addr(5)
        ),
        format!(
            "node6: cannot read the SSH key {}: No such file or directory",
            hosts.dir.join("missing_key").display()
        ),
        format!(
            "node7: cannot read the SSH key {}: it is not a private key",
            garbage_key.display()
        ),
        "6 of 7 nodes failed.".to_owned(),
    ];
    for expected in &expected_lines {
        assert!(
            output.stdout.contains(expected.as_str()),
            "missing {expected:?} in:\n{}",
            output.stdout
        );
    }
    // A changed key is refused even when new keys are accepted; the unknown one is then added.
    let output = Test::new()
        .args([
            "check",
            hosts.cluster_file().to_str().unwrap(),
            "--accept-new-host-keys",
        ])
        .status(1)
        .run();
    assert!(
        output
            .stdout
            .contains("node3: the host key of 127.0.22.3 HAS CHANGED"),
        "{}",
        output.stdout
    );
    assert!(
        row(&output.stdout, "node4").starts_with("ok "),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stderr
            .contains("node4: added the host key of 127.0.22.4"),
        "{}",
        output.stderr
    );
    // Hashed or not, as the machine's ssh_config says: ssh finds it.
    assert_eq!(hosts.openssh_finds("127.0.22.4"), [hosts.host_key(4)]);
}

/// The table row of `node`.
fn row<'a>(stdout: &'a str, node: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(node))
        .unwrap_or_else(|| panic!("no row for {node} in:\n{stdout}"))
}

#[test]
fn a_stopped_primary_fails_it_and_the_mirrors_that_cannot_reach_it() {
    let hosts = TestHosts::up(23, 2);
    hosts.ctl("stop-pg", 1);
    let output = Test::new()
        .args(["check", hosts.cluster_file().to_str().unwrap(), "--json"])
        .status(1)
        .run();
    let report: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let node1 = &report["nodes"][0];
    assert_eq!(node1["role"], "stopped");
    assert_eq!(node1["running"], false);
    assert!(
        node1["problems"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL is not running")
    );
    let node2 = &report["nodes"][1];
    assert_eq!(node2["reaches_primary"], false);
    assert!(
        node2["problems"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the primary's PostgreSQL at 127.0.23.1:5432 from this node")
    );
}

/// Without a key in the file, the ssh-agent is asked; without either, the message says so.
#[test]
fn the_ssh_agent_is_used_when_no_key_is_named() {
    let hosts = TestHosts::up(38, 1);
    let toml: String = hosts
        .cluster_toml()
        .lines()
        .filter(|line| !line.starts_with("key "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(hosts.cluster_file(), toml).unwrap();
    let home = hosts.dir.join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let socket = hosts.dir.join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = KillOnDrop(agent);
    for _ in 0..50 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(hosts.dir.join("client/id_ed25519"))
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let file = hosts.cluster_file();
    Test::new()
        .env("SSH_AUTH_SOCK", socket.to_str().unwrap())
        .env("HOME", home.to_str().unwrap())
        .args(["check", file.to_str().unwrap()])
        .run();
    let output = Test::new()
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", home.to_str().unwrap())
        .args(["check", file.to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        output
            .stdout
            .contains("no key named and no ssh-agent (SSH_AUTH_SOCK unset)"),
        "{}",
        output.stdout
    );

    // IdentitiesOnly with an IdentityFile that only the agent can open (a
    // passphrase-protected copy): the agent's copy of that key logs in, as
    // with ssh; an IdentityFile of another key keeps the agent's keys out.
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let locked = ssh_dir.join("id_locked");
    std::fs::copy(hosts.dir.join("client/id_ed25519"), &locked).unwrap();
    std::fs::copy(
        hosts.dir.join("client/id_ed25519.pub"),
        ssh_dir.join("id_locked.pub"),
    )
    .unwrap();
    let encrypted = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "a passphrase", "-f"])
        .arg(&locked)
        .output()
        .unwrap();
    assert!(encrypted.status.success(), "{encrypted:?}");
    let other = ssh_dir.join("id_other");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    for (identity, status) in [(&locked, 0), (&other, 1)] {
        std::fs::write(
            ssh_dir.join("config"),
            format!("IdentitiesOnly yes\nIdentityFile {}\n", identity.display()),
        )
        .unwrap();
        let output = Test::new()
            .env("SSH_AUTH_SOCK", socket.to_str().unwrap())
            .env("HOME", home.to_str().unwrap())
            .args(["check", file.to_str().unwrap()])
            .status(status)
            .run();
        if status == 1 {
            assert!(
                output.stdout.contains("ssh-agent: no identity accepted"),
                "{}",
                output.stdout
            );
        }
    }
}

/// A host key marked `@revoked` in known_hosts is refused, as OpenSSH
/// refuses it, even though another line of the file trusts it (issue 12,
/// case 7).
#[test]
fn a_revoked_host_key_is_refused_naming_the_line() {
    let hosts = TestHosts::up(57, 2);
    let known_hosts = std::fs::read_to_string(hosts.known_hosts()).unwrap();
    let node2 = known_hosts
        .lines()
        .find(|line| line.starts_with(&format!("{} ", hosts.addr(2))))
        .expect("node2's key is trusted");
    let mut fields = node2.split_whitespace().skip(1);
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    let revoked = format!("{known_hosts}@revoked * {kind} {key}\n");
    std::fs::write(hosts.known_hosts(), &revoked).unwrap();
    let line = revoked.lines().count();

    let output = Test::new()
        .args(["check", hosts.cluster_file().to_str().unwrap()])
        .status(1)
        .run();
    assert!(
        row(&output.stdout, "node1").starts_with("ok"),
        "{}",
        output.stdout
    );
    assert!(
        crate::test::flatten(&output.stdout).contains(&format!(
            "node2: the host key of {} (SHA256:",
            hosts.addr(2)
        )) && output.stdout.contains(&format!(
            "is marked @revoked in {} line {line}",
            hosts.known_hosts().display()
        )),
        "{}",
        output.stdout
    );
}
