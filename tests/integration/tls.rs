//! The TLS transport: certificates made by the test (rcgen; no private key
//! is committed), a cluster bootstrapped encrypted, switched to plain and
//! back on a running cluster without a restart, switched over, and
//! certificates plan refuses before it contacts any node.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;
use crate::test::{Output, Test, flatten};

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        Self::with_key(name, KeyPair::generate().unwrap())
    }

    /// A CA whose key (and so every signature it makes) is of `key`'s algorithm.
    pub fn with_key(name: &str, key: KeyPair) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// Writes the CA's certificate as `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// Writes a certificate for `host` and its key as `dir/stem.crt` and `dir/stem.key`.
    pub fn issue(&self, dir: &Path, stem: &str, host: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// The cluster file with `transport`, the CA, and each node's certificate.
pub fn with_tls(text: &str, transport: &str, ca: &Path, nodes: &[(PathBuf, PathBuf)]) -> String {
    let mut text = text.replacen(
        "max_slot_wal_keep_size = \"1GB\"\n",
        &format!(
            "max_slot_wal_keep_size = \"1GB\"\ntransport              = \"{transport}\"\n\n[replication.tls]\nca = \"{}\"\n",
            ca.display()
        ),
        1,
    );
    for (index, (cert, key)) in nodes.iter().enumerate() {
        let header = format!("[nodes.node{}]\n", index + 1);
        text = text.replacen(
            &header,
            &format!(
                "{header}tls      = {{ cert = \"{}\", key = \"{}\" }}\n",
                cert.display(),
                key.display()
            ),
            1,
        );
    }
    text
}

fn set_transport(hosts: &TestHosts, transport: &str) {
    let file = hosts.cluster_file();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replace(
            "transport              = \"tls\"",
            &format!("transport              = \"{transport}\""),
        )
        .replace(
            "transport              = \"plain\"",
            &format!("transport              = \"{transport}\""),
        );
    std::fs::write(&file, text).unwrap();
}

/// (walsenders streaming, of which encrypted) on `host`.
fn walsenders(hosts: &TestHosts, host: u8) -> String {
    hosts.psql(
        host,
        "SELECT count(*) || ' streaming, ' || count(*) FILTER (WHERE s.ssl) || ' encrypted' \
         FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.state = 'streaming'",
    )
}

fn start_times(hosts: &TestHosts) -> Vec<String> {
    (1..=3)
        .map(|host| hosts.psql(host, "SELECT pg_postmaster_start_time()"))
        .collect()
}

#[test]
fn a_tls_cluster_streams_encrypted_and_switches_to_plain_and_back_without_a_restart() {
    let hosts = TestHosts::up(45, 3);
    let certs = hosts.dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let ca = TestCa::new("mirrorset test CA");
    let ca_file = ca.write(&certs, "ca.pem");
    let nodes: Vec<_> = (1..=3)
        .map(|i| ca.issue(&certs, &format!("node{i}"), &hosts.addr(i)))
        .collect();
    let text = std::fs::read_to_string(hosts.cluster_file()).unwrap();
    std::fs::write(
        hosts.cluster_file(),
        with_tls(&text, "tls", &ca_file, &nodes),
    )
    .unwrap();

    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(walsenders(&hosts, 1), "2 streaming, 2 encrypted");
    let key = hosts.dir.join("node2/mirrorset-server.key");
    let stat = std::process::Command::new("stat")
        .args(["-c", "%a %U"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stat.stdout).trim(), "600 postgres");
    // Unencrypted replication is refused by the pg_hba block.
    let hba = std::fs::read_to_string(hosts.dir.join("node1/etc/pg_hba.conf")).unwrap();
    assert!(
        hba.contains("hostnossl replication replicator all reject"),
        "{hba}"
    );
    assert_converged(&hosts);
    let started = start_times(&hosts);

    set_transport(&hosts, "plain");
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(plan.stdout.contains("0 restarts."), "{}", plan.stdout);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(walsenders(&hosts, 1), "2 streaming, 0 encrypted");
    assert_converged(&hosts);

    set_transport(&hosts, "tls");
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(walsenders(&hosts, 1), "2 streaming, 2 encrypted");
    assert_converged(&hosts);
    assert_eq!(start_times(&hosts), started, "a server was restarted");

    // A switchover over TLS: pg_rewind verifies the new primary too.
    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(walsenders(&hosts, 2), "2 streaming, 2 encrypted");
    assert_converged(&hosts);
}

/// `plan` of a tls cluster of `nodes` (node1, node2, … on 192.0.2.1, .2, …
/// in TEST-NET-1, where nothing answers, so a contact would show), which
/// must refuse: its output, and its stderr flattened.
fn plan_refused(dir: &Path, ca_file: &Path, nodes: &[(PathBuf, PathBuf)]) -> (Output, String) {
    let mut text =
        "[cluster]\nname = \"tls\"\nprimary = \"node1\"\n\n[replication]\nuser = \"replicator\"\n\
        passphrase = { env = \"TLS_TEST_PASSPHRASE\" }\nmax_slot_wal_keep_size = \"1GB\"\n"
            .to_owned();
    for index in 1..=nodes.len() {
        text.push_str(&format!(
            "\n[nodes.node{index}]\nhost = \"192.0.2.{index}\"\n"
        ));
    }
    let file = dir.join("cluster.toml");
    std::fs::write(&file, with_tls(&text, "tls", ca_file, nodes)).unwrap();
    let refused = Test::new()
        .args(["plan", file.to_str().unwrap()])
        .env("TLS_TEST_PASSPHRASE", "irrelevant here")
        .status(1)
        .run();
    let report = flatten(&refused.stderr);
    (refused, report)
}

#[test]
fn plan_refuses_a_certificate_for_another_host_or_from_another_ca_before_contacting_nodes() {
    let dir = std::env::temp_dir().join(format!("mirrorset-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new("our CA");
    let stranger = TestCa::new("a stranger's CA");
    let ca_file = ca.write(&dir, "ca.pem");
    // Hosts in TEST-NET-1: nothing answers there, so a contact would show.
    let nodes = vec![
        stranger.issue(&dir, "db1", "192.0.2.1"),
        ca.issue(&dir, "db2", "192.0.2.9"),
        ca.issue(&dir, "db3", "192.0.2.3"),
    ];
    let (refused, report) = plan_refused(&dir, &ca_file, &nodes);
    let db1 = format!(
        "node1: {}: is not signed by the CA (CN=our CA); it was issued by CN=a stranger's CA",
        dir.join("db1.crt").display()
    );
    let db2 = format!(
        "node2: {}: is for 192.0.2.9, not for the node's host 192.0.2.2",
        dir.join("db2.crt").display()
    );
    assert!(
        report.contains("the TLS files are not usable (2 problems)")
            && report.contains(&db1)
            && report.contains(&db2)
            && !report.contains("node3:")
            && report.contains("no node was contacted"),
        "{}",
        refused.stderr
    );
    // Nothing was planned: the nodes were never gathered.
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_refuses_eddsa_signed_certificates_before_contacting_nodes() {
    let dir = std::env::temp_dir().join(format!("mirrorset-eddsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // PostgreSQL's SCRAM channel binding hashes the server certificate with
    // its signature's digest; EdDSA has none, so a clone would fail mid-apply.
    let ca = TestCa::with_key(
        "an Ed25519 CA",
        KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
    );
    let ca_file = ca.write(&dir, "ca.pem");
    let nodes = vec![
        ca.issue(&dir, "db1", "192.0.2.1"),
        ca.issue(&dir, "db2", "192.0.2.2"),
    ];
    let (refused, report) = plan_refused(&dir, &ca_file, &nodes);
    for node in ["node1", "node2"] {
        let stem = node.replace("node", "db");
        let expected = format!(
            "{node}: {}: is signed with EdDSA (Ed25519 or Ed448)",
            dir.join(format!("{stem}.crt")).display()
        );
        assert!(report.contains(&expected), "{}", refused.stderr);
    }
    assert!(
        report.contains("no node was contacted"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}
