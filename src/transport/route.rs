//! The hops to a node, decided as OpenSSH decides them. In: the node's
//! `ssh` settings from the cluster file, which win as ssh's command-line
//! options do; what ssh_config says for its host and for each `ProxyJump`
//! host; the command line's options. Out: a `Route`, the jump hosts in
//! order then the node, each with its address, port, user, keys, known_hosts
//! files and host-key policy. Pure, but for [`Route::for_node`], which reads
//! ssh_config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::AccessOptions;
use super::ssh_config::{Connection, HostOptions};
use crate::model::SshTarget;

/// Mirrorset's own defaults where neither the cluster file nor ssh_config says.
const DEFAULT_USER: &str = "postgres";
const DEFAULT_PORT: u16 = 22;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// More hops than this is a loop in ssh_config, not a network.
const MAX_JUMPS: usize = 8;

/// One SSH login on the way to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The host as written (an ssh_config alias, or an address): in messages.
    pub alias: String,
    /// What to connect to, and the name its key is known by in known_hosts.
    pub host_name: String,
    pub port: u16,
    pub user: String,
    /// Keys to offer, in order; none named: the default ones.
    pub identity_files: Vec<PathBuf>,
    /// Offer only `identity_files`, never the agent's keys.
    pub identities_only: bool,
    /// The key is the cluster file's `ssh.key`: one that cannot be read is
    /// an error (an IdentityFile that does not exist is skipped, as ssh does).
    pub key_named: bool,
    /// Where its key is looked up; the first also gets keys newly accepted.
    pub known_hosts: Vec<PathBuf>,
    /// An unknown key is trusted and recorded (a changed one never is).
    pub accept_new: bool,
    /// A key recorded names the host hashed (`HashKnownHosts yes`).
    pub hash_known_hosts: bool,
    pub connect_timeout: Duration,
}

/// The jump hosts in order, then the node itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub jumps: Vec<Hop>,
    pub target: Hop,
}

/// The local user mirrorset runs as, for `Match localuser` and ssh's default User.
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}

impl Route {
    /// Reads ssh_config for the node's host and for each of its jump hosts.
    pub fn for_node(target: &SshTarget, access: &AccessOptions) -> Result<Self, String> {
        let local = local_user();
        let user = target.user.as_deref().unwrap_or(DEFAULT_USER);
        let options = HostOptions::read(Connection {
            host: &target.host,
            user,
            local_user: &local,
        });
        let home = home();
        let node = resolve_target(target, &options, access, &home);
        let mut jumps = Vec::new();
        for spec in jump_specs(&options)? {
            let options = HostOptions::read(Connection {
                host: &spec.host,
                user: spec.user.as_deref().unwrap_or(&local),
                local_user: &local,
            });
            jumps.push(resolve_jump(&spec, &options, access, &home, &local));
            if jumps.len() > MAX_JUMPS {
                return Err(format!("ProxyJump names more than {MAX_JUMPS} hosts"));
            }
        }
        Ok(Self {
            jumps,
            target: node,
        })
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// One `ProxyJump` entry: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// The jump hosts ssh_config names for a host, in order; `none` is none.
pub fn jump_specs(options: &HostOptions) -> Result<Vec<JumpSpec>, String> {
    let Some(value) = options.get("ProxyJump").and_then(<[String]>::first) else {
        return Ok(Vec::new());
    };
    if value.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    value.split(',').map(parse_jump).collect()
}

fn parse_jump(text: &str) -> Result<JumpSpec, String> {
    let invalid = || format!("ProxyJump {text:?} is not [user@]host[:port]");
    let rest = text.strip_prefix("ssh://").unwrap_or(text);
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_owned()), rest),
        Some(_) => return Err(invalid()),
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // [2001:db8::1]:2222
        let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(invalid()),
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(invalid)?,
        ),
        None => None,
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(invalid());
    }
    Ok(JumpSpec {
        user,
        host: host.to_owned(),
        port,
    })
}

/// The node: the cluster file's values, then ssh_config's, then mirrorset's defaults.
pub fn resolve_target(
    target: &SshTarget,
    options: &HostOptions,
    access: &AccessOptions,
    home: &Path,
) -> Hop {
    let user = target
        .user
        .clone()
        .or_else(|| first(options, "User"))
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    let port = target
        .port
        .or_else(|| first(options, "Port").and_then(|p| p.parse().ok()))
        .unwrap_or(DEFAULT_PORT);
    let host_name = host_name(&target.host, options);
    let identity_files = match &target.key {
        Some(key) => vec![key.clone()],
        None => identity_files(options, home, &target.host, &user),
    };
    let known_hosts = match &target.known_hosts {
        Some(file) => vec![file.clone()],
        None => known_hosts_files(options, home, &target.host, &user),
    };
    Hop {
        alias: target.host.clone(),
        host_name,
        port,
        user,
        identity_files,
        identities_only: flag(options, "IdentitiesOnly"),
        key_named: target.key.is_some(),
        known_hosts,
        accept_new: accept_new(options, access),
        hash_known_hosts: options.hash_known_hosts(),
        connect_timeout: connect_timeout(options, access),
    }
}

/// A jump host: as ssh would reach it, from ssh_config alone (the cluster
/// file's ssh settings are the node's, not its jump hosts').
pub fn resolve_jump(
    spec: &JumpSpec,
    options: &HostOptions,
    access: &AccessOptions,
    home: &Path,
    local_user: &str,
) -> Hop {
    let user = spec
        .user
        .clone()
        .or_else(|| first(options, "User"))
        .unwrap_or_else(|| local_user.to_owned());
    let port = spec
        .port
        .or_else(|| first(options, "Port").and_then(|p| p.parse().ok()))
        .unwrap_or(DEFAULT_PORT);
    Hop {
        alias: spec.host.clone(),
        host_name: host_name(&spec.host, options),
        port,
        identity_files: identity_files(options, home, &spec.host, &user),
        known_hosts: known_hosts_files(options, home, &spec.host, &user),
        user,
        identities_only: flag(options, "IdentitiesOnly"),
        key_named: false,
        accept_new: accept_new(options, access),
        hash_known_hosts: options.hash_known_hosts(),
        connect_timeout: connect_timeout(options, access),
    }
}

fn first(options: &HostOptions, keyword: &str) -> Option<String> {
    options
        .get(keyword)
        .and_then(<[String]>::first)
        .map(ToOwned::to_owned)
}

fn flag(options: &HostOptions, keyword: &str) -> bool {
    first(options, keyword).is_some_and(|v| v.eq_ignore_ascii_case("yes"))
}

fn host_name(alias: &str, options: &HostOptions) -> String {
    match first(options, "HostName") {
        Some(name) => name.replace("%h", alias).replace("%%", "%"),
        None => alias.to_owned(),
    }
}

/// `~`, `%d` (home), `%h` (the host as written), `%r` (remote user) and
/// `%u` (local user) in a path, as ssh expands them in IdentityFile and
/// UserKnownHostsFile.
fn expand_path(path: &str, home: &Path, alias: &str, user: &str) -> PathBuf {
    let home_text = home.display().to_string();
    let path = match path.strip_prefix("~/") {
        Some(rest) => format!("{home_text}/{rest}"),
        None if path == "~" => home_text.clone(),
        None => path.to_owned(),
    };
    PathBuf::from(
        path.replace("%d", &home_text)
            .replace("%h", alias)
            .replace("%r", user)
            .replace("%u", &local_user())
            .replace("%%", "%"),
    )
}

/// Every IdentityFile of the blocks that apply, in order (ssh offers all).
fn identity_files(options: &HostOptions, home: &Path, alias: &str, user: &str) -> Vec<PathBuf> {
    options
        .all("IdentityFile")
        .iter()
        .filter(|path| !path.eq_ignore_ascii_case("none"))
        .map(|path| expand_path(path, home, alias, user))
        .collect()
}

/// UserKnownHostsFile's files, else ~/.ssh/known_hosts. `none` alone
/// leaves no file to record a key in: mirrorset keeps the default then.
fn known_hosts_files(options: &HostOptions, home: &Path, alias: &str, user: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = options
        .get("UserKnownHostsFile")
        .unwrap_or_default()
        .iter()
        .filter(|path| !path.eq_ignore_ascii_case("none"))
        .map(|path| expand_path(path, home, alias, user))
        .collect();
    if files.is_empty() {
        vec![home.join(".ssh/known_hosts")]
    } else {
        files
    }
}

/// `--accept-new-host-keys`, or StrictHostKeyChecking `accept-new` (and
/// `no`/`off`, which mirrorset never makes weaker than accept-new: a
/// changed key is always refused). `ask` is `yes`: nobody is there to ask.
fn accept_new(options: &HostOptions, access: &AccessOptions) -> bool {
    access.accept_new_host_keys
        || first(options, "StrictHostKeyChecking").is_some_and(|value| {
            ["accept-new", "no", "off"]
                .iter()
                .any(|weak| value.eq_ignore_ascii_case(weak))
        })
}

/// `--connect-timeout`, else ssh_config's ConnectTimeout, else 10 s.
fn connect_timeout(options: &HostOptions, access: &AccessOptions) -> Duration {
    access
        .connect_timeout
        .or_else(|| {
            first(options, "ConnectTimeout")
                .and_then(|seconds| seconds.parse::<u64>().ok())
                .filter(|seconds| *seconds > 0)
                .map(Duration::from_secs)
        })
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ssh_config::Source;

    fn options(host: &str, text: &str) -> HostOptions {
        HostOptions::evaluate(
            Connection {
                host,
                user: "postgres",
                local_user: "ops",
            },
            &[Source {
                text: text.to_owned(),
                include_base: PathBuf::from("/home/ops/.ssh"),
            }],
            &mut |_| Vec::new(),
        )
    }

    fn target(host: &str) -> SshTarget {
        SshTarget {
            host: host.to_owned(),
            port: None,
            user: None,
            key: None,
            known_hosts: None,
        }
    }

    const CONFIG: &str = "Host db1\n  HostName 10.0.0.1\n  User admin\n  Port 2222\n  IdentityFile ~/.ssh/id_db\n  IdentityFile %d/.ssh/id_%h\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/.ssh/known_db /etc/ssh/known_all\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 3\n  ProxyJump ops@bastion:2200,[2001:db8::9]\nHost *\n  User fallback\n";

    #[test]
    fn ssh_config_decides_what_the_cluster_file_leaves_open() {
        let home = Path::new("/home/ops");
        let hop = resolve_target(
            &target("db1"),
            &options("db1", CONFIG),
            &AccessOptions::default(),
            home,
        );
        assert_eq!(
            hop,
            Hop {
                alias: "db1".into(),
                host_name: "10.0.0.1".into(),
                port: 2222,
                user: "admin".into(),
                identity_files: vec![
                    "/home/ops/.ssh/id_db".into(),
                    "/home/ops/.ssh/id_db1".into()
                ],
                identities_only: true,
                key_named: false,
                known_hosts: vec![
                    "/home/ops/.ssh/known_db".into(),
                    "/etc/ssh/known_all".into()
                ],
                accept_new: true,
                hash_known_hosts: false,
                connect_timeout: Duration::from_secs(3),
            }
        );
        assert_eq!(
            jump_specs(&options("db1", CONFIG)).unwrap(),
            [
                JumpSpec {
                    user: Some("ops".into()),
                    host: "bastion".into(),
                    port: Some(2200)
                },
                JumpSpec {
                    user: None,
                    host: "2001:db8::9".into(),
                    port: None
                },
            ]
        );
    }

    #[test]
    fn the_cluster_file_and_the_command_line_win() {
        let named = SshTarget {
            host: "db1".into(),
            port: Some(22),
            user: Some("postgres".into()),
            key: Some("/keys/db".into()),
            known_hosts: Some("/keys/known_hosts".into()),
        };
        let access = AccessOptions {
            connect_timeout: Some(Duration::from_secs(30)),
            accept_new_host_keys: false,
        };
        let hop = resolve_target(&named, &options("db1", CONFIG), &access, Path::new("/h"));
        assert_eq!(
            (hop.port, hop.user.as_str(), hop.host_name.as_str()),
            (22, "postgres", "10.0.0.1")
        );
        assert_eq!(hop.identity_files, [PathBuf::from("/keys/db")]);
        assert_eq!(hop.known_hosts, [PathBuf::from("/keys/known_hosts")]);
        assert_eq!(hop.connect_timeout, Duration::from_secs(30));
    }

    #[test]
    fn without_ssh_config_mirrorsets_defaults_apply() {
        let hop = resolve_target(
            &target("10.0.0.7"),
            &options("10.0.0.7", ""),
            &AccessOptions::default(),
            Path::new("/home/ops"),
        );
        assert_eq!(
            (hop.host_name.as_str(), hop.port, hop.user.as_str()),
            ("10.0.0.7", 22, "postgres")
        );
        assert!(hop.identity_files.is_empty() && !hop.identities_only && !hop.accept_new);
        assert_eq!(
            hop.known_hosts,
            [PathBuf::from("/home/ops/.ssh/known_hosts")]
        );
        assert_eq!(hop.connect_timeout, Duration::from_secs(10));
        // StrictHostKeyChecking: only accept-new, no and off accept new keys.
        for (value, accepts) in [
            ("yes", false),
            ("ask", false),
            ("no", true),
            ("accept-new", true),
        ] {
            let text = format!("StrictHostKeyChecking {value}\n");
            assert_eq!(
                accept_new(&options("x", &text), &AccessOptions::default()),
                accepts
            );
        }
    }

    #[test]
    fn a_jump_host_is_reached_as_ssh_reaches_it() {
        let spec = JumpSpec {
            user: None,
            host: "bastion".into(),
            port: None,
        };
        let text = "Host bastion\n  HostName 192.0.2.9\n  IdentityFile ~/.ssh/id_jump\n";
        let hop = resolve_jump(
            &spec,
            &options("bastion", text),
            &AccessOptions::default(),
            Path::new("/home/ops"),
            "ops",
        );
        assert_eq!(
            (hop.host_name.as_str(), hop.port, hop.user.as_str()),
            ("192.0.2.9", 22, "ops")
        );
        assert_eq!(
            hop.identity_files,
            [PathBuf::from("/home/ops/.ssh/id_jump")]
        );
        assert!(
            jump_specs(&options("x", "ProxyJump none\n"))
                .unwrap()
                .is_empty()
        );
        for bad in ["@host", "host:0", "host:port", "", "a b"] {
            assert!(parse_jump(bad).is_err(), "{bad:?}");
        }
    }
}
