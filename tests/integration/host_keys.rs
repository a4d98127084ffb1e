//! Host keys as OpenSSH reads and writes them (issue 12, case 7), against
//! real sshd: a host trusted only through a `@cert-authority`, the lines
//! `--accept-new-host-keys` adds for each key type, hashed when ssh_config
//! says `HashKnownHosts yes`.
//! Every line mirrorset writes is read back by `ssh-keygen -F` and by a real
//! `ssh -o StrictHostKeyChecking=yes`.

use crate::hosts::TestHosts;
use crate::test::{Test, flatten};

/// A HOME whose ~/.ssh/config is `config`, so the machine's
/// /etc/ssh/ssh_config (Debian's says `HashKnownHosts yes`) never decides.
fn home_with_ssh_config(hosts: &TestHosts, config: &str) -> String {
    let home = hosts.dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/config"), config).unwrap();
    home.to_str().unwrap().to_owned()
}

fn check(hosts: &TestHosts, home: &str, accept_new: bool, status: i32) -> crate::test::Output {
    let file = hosts.cluster_file();
    let mut test = Test::new()
        .env("HOME", home)
        .args(["check", file.to_str().unwrap()]);
    if accept_new {
        test = test.args(["--accept-new-host-keys"]);
    }
    test.status(status).run()
}

fn known_hosts_without(hosts: &TestHosts, addresses: &[String]) -> String {
    std::fs::read_to_string(hosts.known_hosts())
        .unwrap()
        .lines()
        .filter(|line| !addresses.iter().any(|a| line.starts_with(&format!("{a} "))))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// libssh2 cannot verify host certificates: a host that known_hosts trusts
/// only through a CA is refused with the fingerprint of the key it really
/// has and what to do; doing it (adding the key itself) works.
#[test]
fn a_host_trusted_only_through_a_certificate_authority_is_refused_with_its_true_key() {
    let hosts = TestHosts::up(70, 2);
    hosts.ctl("certify", 2);
    let ca = std::fs::read_to_string(hosts.dir.join("client/host_ca.pub")).unwrap();
    let ca: Vec<&str> = ca.split_whitespace().take(2).collect();
    let mut known_hosts = known_hosts_without(&hosts, &[hosts.addr(2)]);
    known_hosts.push_str(&format!(
        "@cert-authority 127.0.70.*,!127.0.70.9 {}\n",
        ca.join(" ")
    ));
    std::fs::write(hosts.known_hosts(), &known_hosts).unwrap();
    let ca_line = known_hosts.lines().count();
    // OpenSSH itself trusts node2 through the CA: the setup is real.
    hosts.openssh_login(2, 22).unwrap();
    let home = home_with_ssh_config(&hosts, "HashKnownHosts no\n");

    let output = check(&hosts, &home, false, 1);
    let text = flatten(&output.stdout);
    let fingerprint = hosts.host_fingerprint(2);
    let key_line = format!("{} {}", hosts.addr(2), hosts.host_key(2));
    let known_hosts_path = hosts.known_hosts().display().to_string();
    for expected in [
        format!(
            "node2: 127.0.70.2 is trusted only through a host certificate (@cert-authority in {known_hosts_path} line {ca_line}), and mirrorset's SSH library (libssh2) does not verify host certificates; the host key it presented is ssh-ed25519 {fingerprint}"
        ),
        format!("help: check on the node's console that {fingerprint} is its key"),
        format!("append the line {key_line} to {known_hosts_path}"),
        format!("`ssh-keyscan -p 22 -t ssh-ed25519 127.0.70.2 >> {known_hosts_path}`"),
        "or rerun with --accept-new-host-keys to add it".to_owned(),
    ] {
        assert!(
            text.contains(&expected),
            "missing {expected:?} in:\n{}",
            output.stdout
        );
    }
    assert!(
        output
            .stdout
            .lines()
            .any(|line| line.starts_with("ok") && line.contains("node1")),
        "{}",
        output.stdout
    );

    // The advice works: with the key itself added, node2 is reached
    // although its sshd still offers the certificate.
    std::fs::write(hosts.known_hosts(), format!("{known_hosts}{key_line}\n")).unwrap();
    check(&hosts, &home, false, 0);
    hosts.openssh_login(2, 22).unwrap();

    // So does --accept-new-host-keys: it adds the key, not the certificate.
    std::fs::write(hosts.known_hosts(), &known_hosts).unwrap();
    let output = check(&hosts, &home, true, 0);
    assert!(
        output.stderr.contains(&format!(
            "node2: added the host key of 127.0.70.2 (ssh-ed25519 {fingerprint})"
        )),
        "{}",
        output.stderr
    );
    assert_eq!(
        std::fs::read_to_string(hosts.known_hosts()).unwrap(),
        format!("{known_hosts}{key_line}\n")
    );
    assert_eq!(hosts.openssh_finds("127.0.70.2"), [hosts.host_key(2)]);
}

/// The lines added for new ed25519, ECDSA and RSA host keys are the ones
/// OpenSSH writes, and an existing last line without a newline stays intact.
#[test]
fn added_lines_of_every_key_type_are_read_by_openssh() {
    let hosts = TestHosts::up(71, 3);
    hosts.ctl("rekey-ecdsa", 2);
    hosts.ctl("rekey-rsa", 3);
    let by_hand = "# trusted by hand, and no newline at the end";
    std::fs::write(hosts.known_hosts(), by_hand).unwrap();
    let home = home_with_ssh_config(&hosts, "HashKnownHosts no\n");

    let output = check(&hosts, &home, false, 1);
    assert!(
        output
            .stdout
            .contains("node3: the host key of 127.0.71.3 ("),
        "{}",
        output.stdout
    );
    let output = check(&hosts, &home, true, 0);
    for (host, kind) in [
        (1, "ssh-ed25519"),
        (2, "ecdsa-sha2-nistp256"),
        (3, "ssh-rsa"),
    ] {
        assert!(hosts.host_key(host).starts_with(&format!("{kind} ")));
        assert!(
            output.stderr.contains(&format!(
                "node{host}: added the host key of {} ({kind} {})",
                hosts.addr(host),
                hosts.host_fingerprint(host)
            )),
            "{}",
            output.stderr
        );
        assert_eq!(
            hosts.openssh_finds(&hosts.addr(host)),
            [hosts.host_key(host)]
        );
        hosts.openssh_login(host, 22).unwrap();
    }
    let written = std::fs::read_to_string(hosts.known_hosts()).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some(by_hand));
    let mut added: Vec<&str> = lines.collect();
    added.sort();
    let expected: Vec<String> = (1..=3)
        .map(|host| format!("{} {}", hosts.addr(host), hosts.host_key(host)))
        .collect();
    assert_eq!(added, expected);
    assert!(written.ends_with('\n'));
    check(&hosts, &home, false, 0);
}

/// Under `HashKnownHosts yes` (Debian's /etc/ssh/ssh_config says it for
/// every host) the added lines name the host hashed, as ssh writes them;
/// a `Match` block that says no for one host is obeyed. ssh and mirrorset
/// both read the hashed lines back.
#[test]
fn added_lines_are_hashed_when_ssh_config_says_so() {
    let hosts = TestHosts::up(80, 3);
    std::fs::write(hosts.known_hosts(), "").unwrap();
    let home = home_with_ssh_config(
        &hosts,
        &format!(
            "Match originalhost {}\n  HashKnownHosts no\nHost 127.0.80.*\n  HashKnownHosts yes\n",
            hosts.addr(3)
        ),
    );

    check(&hosts, &home, true, 0);
    let written = std::fs::read_to_string(hosts.known_hosts()).unwrap();
    let mut hashed = 0;
    for line in written.lines() {
        let (name, key) = line.split_once(' ').unwrap();
        if name == hosts.addr(3) {
            assert_eq!(key, hosts.host_key(3));
        } else {
            assert!(name.starts_with("|1|"), "{line}");
            hashed += 1;
        }
    }
    assert_eq!((hashed, written.lines().count()), (2, 3), "{written}");
    assert!(!written.contains(&hosts.addr(1)) && !written.contains(&hosts.addr(2)));
    for host in 1..=3 {
        assert_eq!(
            hosts.openssh_finds(&hosts.addr(host)),
            [hosts.host_key(host)]
        );
        hosts.openssh_login(host, 22).unwrap();
    }
    // Read back: every key known, nothing added twice.
    check(&hosts, &home, false, 0);
    check(&hosts, &home, true, 0);
    assert_eq!(
        std::fs::read_to_string(hosts.known_hosts()).unwrap(),
        written
    );
}
