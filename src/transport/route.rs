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

impl Route {
    /// Reads ssh_config for the node's host and for each of its jump hosts.
    pub fn for_node(target: &SshTarget, access: &AccessOptions) -> Result<Self, String> {
        // From the password database, as ssh takes it: $USER may be unset (cron, services).
        let local = super::current_user();
        let file = target.config.as_deref();
        let options = HostOptions::read(
            Connection {
                host: &target.host,
                user: target.user.as_deref(),
                local_user: &local,
            },
            file,
        );
        let home = home();
        let node = resolve_target(target, &options, access, &home, &local);
        let mut jumps = Vec::new();
        for spec in jump_specs(&options)? {
            add_jump(&spec, access, &home, &local, file, &mut jumps)?;
        }
        Ok(Self {
            jumps,
            target: node,
        })
    }
}

/// A jump host, after the jump hosts its own ssh_config block names, as
/// ssh reaches it (its ProxyJump followed too).
fn add_jump(
    spec: &JumpSpec,
    access: &AccessOptions,
    home: &Path,
    local: &str,
    file: Option<&Path>,
    jumps: &mut Vec<Hop>,
) -> Result<(), String> {
    if jumps.len() >= MAX_JUMPS {
        return Err(format!(
            "ProxyJump names more than {MAX_JUMPS} hosts on the way (a loop?)"
        ));
    }
    let options = HostOptions::read(
        Connection {
            host: &spec.host,
            user: spec.user.as_deref(),
            local_user: local,
        },
        file,
    );
    for before in jump_specs(&options)? {
        add_jump(&before, access, home, local, file, jumps)?;
    }
    jumps.push(resolve_jump(spec, &options, access, home, local));
    Ok(())
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
/// As in ssh, the first of ProxyCommand and ProxyJump obtained decides; a
/// ProxyCommand other than `none` is refused (mirrorset runs no local
/// command to reach a node).
pub fn jump_specs(options: &HostOptions) -> Result<Vec<JumpSpec>, String> {
    let decides = options.first_of(&["ProxyCommand", "ProxyJump"]);
    let Some(keyword) = decides else {
        return Ok(Vec::new());
    };
    let value = first(options, keyword).unwrap_or_default();
    if value.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    if keyword == "ProxyCommand" {
        let command = options.get("ProxyCommand").unwrap_or_default().join(" ");
        return Err(format!(
            "ProxyCommand {command:?} is not supported (mirrorset runs no local command to reach a node); use ProxyJump for a jump host"
        ));
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

/// What is named for a hop before ssh_config is read: the cluster file's
/// `ssh` values for the node, `[user@]host[:port]` for a jump host.
struct Named<'a> {
    host: &'a str,
    user: Option<&'a str>,
    port: Option<u16>,
    key: Option<&'a Path>,
    known_hosts: Option<&'a Path>,
    /// The user when neither names one: mirrorset's for a node, the local
    /// user's for a jump host (as ssh's).
    default_user: &'a str,
}

/// The node: the cluster file's values, then ssh_config's, then mirrorset's defaults.
pub fn resolve_target(
    target: &SshTarget,
    options: &HostOptions,
    access: &AccessOptions,
    home: &Path,
    local_user: &str,
) -> Hop {
    let named = Named {
        host: &target.host,
        user: target.user.as_deref(),
        port: target.port,
        key: target.key.as_deref(),
        known_hosts: target.known_hosts.as_deref(),
        default_user: DEFAULT_USER,
    };
    resolve(&named, options, access, home, local_user)
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
    let named = Named {
        host: &spec.host,
        user: spec.user.as_deref(),
        port: spec.port,
        key: None,
        known_hosts: None,
        default_user: local_user,
    };
    resolve(&named, options, access, home, local_user)
}

/// One hop: what is named wins, then ssh_config, then the defaults.
fn resolve(
    named: &Named,
    options: &HostOptions,
    access: &AccessOptions,
    home: &Path,
    local_user: &str,
) -> Hop {
    let user = named
        .user
        .map(str::to_owned)
        .or_else(|| first(options, "User"))
        .unwrap_or_else(|| named.default_user.to_owned());
    let port = named
        .port
        .or_else(|| first(options, "Port").and_then(|p| p.parse().ok()))
        .unwrap_or(DEFAULT_PORT);
    let host_name = host_name(named.host, options);
    let tokens = Tokens {
        home,
        alias: named.host,
        host_name: &host_name,
        port,
        user: &user,
        local_user,
    };
    let identity_files = match named.key {
        Some(key) => vec![key.to_path_buf()],
        None => identity_files(options, &tokens),
    };
    let known_hosts = match named.known_hosts {
        Some(file) => vec![file.to_path_buf()],
        None => known_hosts_files(options, &tokens),
    };
    Hop {
        alias: named.host.to_owned(),
        host_name,
        port,
        user,
        identity_files,
        identities_only: flag(options, "IdentitiesOnly"),
        key_named: named.key.is_some(),
        known_hosts,
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

/// What ssh's `%` tokens in IdentityFile and UserKnownHostsFile stand for.
struct Tokens<'a> {
    home: &'a Path,
    /// `%n`: the host as written.
    alias: &'a str,
    /// `%h`: the host after HostName.
    host_name: &'a str,
    port: u16,
    /// `%r`: the remote user.
    user: &'a str,
    /// `%u`: the local user.
    local_user: &'a str,
}

/// `~`, `%d` (home), `%h`, `%n`, `%p`, `%r`, `%u` and `%%` in a path,
/// expanded in one left-to-right pass as ssh does (so `%%h` is `%h`).
fn expand_path(path: &str, tokens: &Tokens) -> PathBuf {
    let home_text = tokens.home.display().to_string();
    let path = match path.strip_prefix("~/") {
        Some(rest) => format!("{home_text}/{rest}"),
        None if path == "~" => home_text.clone(),
        None => path.to_owned(),
    };
    let mut expanded = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => expanded.push('%'),
            Some('d') => expanded.push_str(&home_text),
            Some('h') => expanded.push_str(tokens.host_name),
            Some('n') => expanded.push_str(tokens.alias),
            Some('p') => expanded.push_str(&tokens.port.to_string()),
            Some('r') => expanded.push_str(tokens.user),
            Some('u') => expanded.push_str(tokens.local_user),
            // A token mirrorset does not know stays as written.
            Some(other) => {
                expanded.push('%');
                expanded.push(other);
            }
            None => expanded.push('%'),
        }
    }
    PathBuf::from(expanded)
}

/// Every IdentityFile of the blocks that apply, in order (ssh offers all).
fn identity_files(options: &HostOptions, tokens: &Tokens) -> Vec<PathBuf> {
    options
        .all("IdentityFile")
        .iter()
        .filter(|path| !path.eq_ignore_ascii_case("none"))
        .map(|path| expand_path(path, tokens))
        .collect()
}

/// UserKnownHostsFile's files, else ~/.ssh/known_hosts. `none` alone
/// leaves no file to record a key in: mirrorset keeps the default then.
fn known_hosts_files(options: &HostOptions, tokens: &Tokens) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = options
        .get("UserKnownHostsFile")
        .unwrap_or_default()
        .iter()
        .filter(|path| !path.eq_ignore_ascii_case("none"))
        .map(|path| expand_path(path, tokens))
        .collect();
    if files.is_empty() {
        vec![tokens.home.join(".ssh/known_hosts")]
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
                user: Some("postgres"),
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
            config: None,
        }
    }

    const CONFIG: &str = "Host db1\n  HostName 10.0.0.1\n  User admin\n  Port 2222\n  IdentityFile ~/.ssh/id_db\n  IdentityFile %d/.ssh/id_%n_%h_%p_%r_%u_%%h\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/.ssh/known_db /etc/ssh/known_all\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 3\n  ProxyJump ops@bastion:2200,[2001:db8::9]\nHost *\n  User fallback\n";

    #[test]
    fn ssh_config_decides_what_the_cluster_file_leaves_open() {
        let home = Path::new("/home/ops");
        let hop = resolve_target(
            &target("db1"),
            &options("db1", CONFIG),
            &AccessOptions::default(),
            home,
            "ops",
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
                    // %h is the host after HostName, %n as written; %%h is a literal %h.
                    "/home/ops/.ssh/id_db1_10.0.0.1_2222_admin_ops_%h".into()
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
            config: None,
        };
        let access = AccessOptions {
            connect_timeout: Some(Duration::from_secs(30)),
            accept_new_host_keys: false,
        };
        let hop = resolve_target(
            &named,
            &options("db1", CONFIG),
            &access,
            Path::new("/h"),
            "ops",
        );
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
            "ops",
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
        // The first of ProxyCommand and ProxyJump decides, as in ssh.
        let text = "Host x\n  ProxyCommand none\nHost *\n  ProxyJump bastion\n";
        assert!(jump_specs(&options("x", text)).unwrap().is_empty());
        let text = "Host x\n  ProxyCommand ssh -W %h:%p bastion\n";
        let refused = jump_specs(&options("x", text)).unwrap_err();
        assert!(refused.contains("use ProxyJump"), "{refused}");
        for bad in ["@host", "host:0", "host:port", "", "a b"] {
            assert!(parse_jump(bad).is_err(), "{bad:?}");
        }
    }
}
