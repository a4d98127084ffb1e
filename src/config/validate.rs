//! Turns the `ClusterFile` as written into a `Cluster` with every default
//! applied, reporting every rule it breaks. Input: `ClusterFile` and the
//! file's path. Output: `Cluster` or problems. I/O: only whether local files
//! the cluster file names (TLS certificates, keys) exist.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::file::{
    ClusterFile, NodeDefaults, NodeEntry, PassphraseRef, PostgresSection, ServiceSpec,
    SettingEntry, SshSection,
};
use super::{Problem, Rule, Spanned};
use crate::model::{
    Access, Cluster, ClusterName, Hooks, IdentifierError, Node, NodeName, NodeState, NodeTls,
    PassphraseSource, PostgresLayout, Replication, ReplicationTls, ReplicationTransport, RoleFile,
    RoleFileEdit, RoleName, ServiceControl, SettingValue, Settings, Size, SlotName, SshTarget,
    SyncEntry,
};
use crate::model::{
    DebianCluster, GucDuration, UnitKind, is_setting_name, managed_by_mirrorset, unit_kind,
};

const DEFAULT_DATA_DIR: &str = "/var/lib/postgresql/15/main";
const DEFAULT_CONFIG_DIR: &str = "/etc/postgresql/15/main";
const DEFAULT_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
const DEFAULT_POSTGRES_PORT: u16 = 5432;
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
const DEFAULT_OS_USER: &str = "postgres";

/// Settings with their spans, so a problem found after merging still points at the line.
type SpannedSettings = BTreeMap<String, Spanned<SettingValue>>;

pub fn validate(file: ClusterFile, path: &Path, problems: &mut Vec<Problem>) -> Option<Cluster> {
    let base_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut check = Checker { problems, base_dir };

    let (name, primary) = match &file.cluster {
        Some(section) => (
            section.name.as_ref().and_then(|name| {
                check.identifier(
                    name,
                    ClusterName::new,
                    Rule::InvalidClusterName,
                    "cluster name",
                )
            }),
            section.primary.clone(),
        ),
        None => (None, None),
    };
    let settings = check.settings(file.settings.as_ref());
    let defaults = file.defaults.as_ref().map(|d| &d.value);
    let transport = file
        .replication
        .as_ref()
        .and_then(|replication| replication.transport.as_ref())
        .and_then(|transport| check.transport(transport))
        .unwrap_or(ReplicationTransport::Plain);
    let mut nodes = check.nodes(file.nodes.as_ref(), defaults, &settings, transport);
    let role_files = check.role_files(file.files.as_ref());
    let hooks = check.hooks(file.hooks.as_ref());
    let sync = check.sync(file.sync.as_ref());
    for checked in &mut nodes {
        checked.node.sync = sync
            .iter()
            .map(|entry| entry.for_node(checked.node.name.as_str()))
            .collect();
    }
    for checked in &mut nodes {
        checked.node.role_files = role_files
            .iter()
            .map(|file| file.for_node(checked.node.name.as_str()))
            .collect();
    }
    let primary = primary.and_then(|primary| check.primary(&primary, &nodes));
    let replication = file
        .replication
        .as_ref()
        .and_then(|section| check.replication(section, transport, &nodes));
    if let Some(entries) = &file.nodes {
        let default_port = file
            .defaults
            .as_ref()
            .and_then(|d| d.postgres.as_ref())
            .and_then(|p| p.port.as_ref())
            .map(|port| port.value);
        check.duplicates(entries, default_port);
    }

    if !check.problems.is_empty() {
        return None;
    }
    Some(Cluster {
        file: path.to_path_buf(),
        name: name?,
        primary: primary?,
        replication: replication?,
        settings: settings
            .into_iter()
            .map(|(key, value)| (key, value.value))
            .collect(),
        nodes: nodes.into_iter().map(|checked| checked.node).collect(),
        hooks,
    })
}

/// A node as validated, with the spans later cross-node checks point at.
struct CheckedNode {
    node: Node,
    state_span: Option<Range<usize>>,
}

struct Checker<'p> {
    problems: &'p mut Vec<Problem>,
    base_dir: PathBuf,
}

impl Checker<'_> {
    fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn identifier<T>(
        &mut self,
        text: &Spanned<String>,
        parse: impl Fn(&str) -> Result<T, IdentifierError>,
        rule: Rule,
        what: &str,
    ) -> Option<T> {
        match parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                let help = match rule {
                    Rule::InvalidSlotName | Rule::InvalidUserName => {
                        "PostgreSQL allows lowercase letters, digits and _, at most 63 characters"
                    }
                    _ => "use lowercase letters, digits, _ and -, at most 63 characters",
                };
                self.report(
                    Problem::new(
                        rule,
                        format!("{what} {:?} is not valid: {error}", text.value),
                    )
                    .at(text.span.clone(), format!("invalid {what}"))
                    .help(help),
                );
                None
            }
        }
    }

    fn transport(
        &mut self,
        transport: &Spanned<super::file::TransportName>,
    ) -> Option<ReplicationTransport> {
        match transport.0.parse() {
            Ok(transport) => Some(transport),
            Err(()) => {
                self.report(
                    Problem::new(
                        Rule::InvalidTransport,
                        format!("transport {:?} is not one mirrorset knows", transport.0),
                    )
                    .at(transport.span.clone(), "expected \"plain\" or \"tls\"")
                    .help("\"plain\" sends replication unencrypted; \"tls\" encrypts it and verifies every server"),
                );
                None
            }
        }
    }

    fn replication(
        &mut self,
        section: &Spanned<super::file::ReplicationSection>,
        transport: ReplicationTransport,
        nodes: &[CheckedNode],
    ) -> Option<Replication> {
        let user = section.user.as_ref().and_then(|user| {
            self.identifier(
                user,
                RoleName::new,
                Rule::InvalidUserName,
                "replication user",
            )
        });
        let passphrase = section
            .passphrase
            .as_ref()
            .and_then(|source| self.passphrase(source));
        let max_slot_wal_keep_size = section.max_slot_wal_keep_size.as_ref().and_then(|size| {
            match size.parse::<Size>() {
                Ok(parsed) if parsed.bytes() >= 1 << 20 => Some(parsed),
                Ok(_) => {
                    self.report(
                        Problem::new(Rule::InvalidSize, "max_slot_wal_keep_size is below 1MB")
                            .at(size.span.clone(), "PostgreSQL counts it in whole megabytes")
                            .help("size it below the free space of the primary's WAL disk, e.g. \"20GB\""),
                    );
                    None
                }
                Err(reason) => {
                    self.report(
                        Problem::new(Rule::InvalidSize, format!("max_slot_wal_keep_size: {reason}"))
                            .at(size.span.clone(), "not a size")
                            .help("size it below the free space of the primary's WAL disk, e.g. \"20GB\""),
                    );
                    None
                }
            }
        });
        let members = nodes
            .iter()
            .filter(|n| n.node.state == NodeState::Member)
            .count() as i64;
        let connection_limit = match &section.connection_limit {
            // Two per mirror being cloned (pg_basebackup -X stream), one per streaming mirror, pg_rewind.
            None => Some(crate::model::wal_sender_budget(members as usize)),
            Some(limit) if limit.value == -1 || limit.value >= members.max(1) => Some(limit.value),
            Some(limit) => {
                self.report(
                    Problem::new(
                        Rule::InvalidConnectionLimit,
                        format!(
                            "connection_limit {} is too low for {members} members",
                            limit.value
                        ),
                    )
                    .at(limit.span.clone(), format!("at least {members}, or -1 for no limit"))
                    .help(
                        "the replication role needs one connection per mirror and one for pg_rewind; \
                         leave it out to get twice the number of members plus 2 (at least 10)",
                    ),
                );
                None
            }
        };
        let tls = match (&section.tls, transport) {
            (Some(tls), _) => {
                let expiry_warning_days = match &tls.expiry_warning_days {
                    None => Some(30),
                    Some(days) if (0..=3650).contains(&days.value) => Some(days.value as u32),
                    Some(days) => {
                        self.report(
                            Problem::new(
                                Rule::InvalidExpiryWarning,
                                format!("expiry_warning_days {} is out of range", days.value),
                            )
                            .at(days.span.clone(), "expected 0 to 3650")
                            .help("plan warns this many days before a certificate expires; 0 never warns"),
                        );
                        None
                    }
                };
                let ca = tls
                    .ca
                    .as_ref()
                    .and_then(|ca| self.local_file(ca, "CA certificate"));
                ca.zip(expiry_warning_days)
                    .map(|(ca, expiry_warning_days)| ReplicationTls {
                        ca,
                        expiry_warning_days,
                    })
            }
            (None, ReplicationTransport::Tls) => {
                let span = section
                    .transport
                    .as_ref()
                    .map(|t| t.span.clone())
                    .unwrap_or(section.span.clone());
                self.report(
                    Problem::new(Rule::TlsMissing, "transport is \"tls\" but [replication.tls] is missing")
                        .at(span, "tls needs a certificate authority")
                        .help("add [replication.tls] with ca = \"<local PEM file of the CA that signed every node's certificate>\""),
                );
                None
            }
            (None, ReplicationTransport::Plain) => None,
        };
        Some(Replication {
            user: user?,
            passphrase: passphrase?,
            transport,
            connection_limit: connection_limit?,
            max_slot_wal_keep_size: max_slot_wal_keep_size?,
            tls,
        })
    }

    fn passphrase(&mut self, source: &Spanned<PassphraseRef>) -> Option<PassphraseSource> {
        let given: Vec<&str> = [
            source.env.as_ref().map(|_| "env"),
            source.file.as_ref().map(|_| "file"),
            source.command.as_ref().map(|_| "command"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let help = "write exactly one of { env = \"VAR\" }, { file = \"path\" }, { command = [\"program\", \"arg\"] }";
        if given.len() != 1 {
            let message = if given.is_empty() {
                "the passphrase names no source".to_owned()
            } else {
                format!(
                    "the passphrase names {} sources ({})",
                    given.len(),
                    given.join(", ")
                )
            };
            self.report(
                Problem::new(Rule::InvalidPassphraseSource, message)
                    .at(
                        source.span.clone(),
                        "expected exactly one of env, file, command",
                    )
                    .help(help),
            );
            return None;
        }
        let empty = |span: &Range<usize>, what: &str| {
            Problem::new(
                Rule::InvalidPassphraseSource,
                format!("the passphrase {what} is empty"),
            )
            .at(span.clone(), "empty")
            .help(help)
        };
        if let (Some(timeout), None) = (&source.timeout, &source.command) {
            self.report(
                Problem::new(
                    Rule::InvalidPassphraseSource,
                    "a timeout applies to a passphrase command only",
                )
                .at(timeout.span.clone(), "nothing runs to stop")
                .help(help),
            );
            return None;
        }
        if let Some(env) = &source.env {
            if env.trim().is_empty() {
                self.report(empty(&env.span, "environment variable name"));
                return None;
            }
            return Some(PassphraseSource::Env(env.value.clone()));
        }
        if let Some(file) = &source.file {
            if file.trim().is_empty() {
                self.report(empty(&file.span, "file name"));
                return None;
            }
            return Some(PassphraseSource::File(self.local_path(file)));
        }
        let command = source.command.as_ref()?;
        if command
            .first()
            .is_none_or(|program| program.trim().is_empty())
        {
            self.report(empty(&command.span, "command"));
            return None;
        }
        let default = crate::model::GucDuration::from_duration(crate::model::COMMAND_TIMEOUT);
        let timeout = match &source.timeout {
            None => default,
            Some(written) => match written.parse::<crate::model::GucDuration>() {
                Ok(timeout)
                    if timeout.as_duration() > std::time::Duration::ZERO
                        && timeout.as_duration() <= std::time::Duration::from_secs(3600) =>
                {
                    timeout
                }
                parsed => {
                    let reason = match parsed {
                        Err(reason) => reason,
                        Ok(_) => format!("{:?} is not between 1ms and 1h", written.value),
                    };
                    self.report(
                        Problem::new(
                            Rule::InvalidPassphraseSource,
                            format!("the passphrase command's timeout is invalid: {reason}"),
                        )
                        .at(written.span.clone(), "not a time limit")
                        .help("write it with a unit, e.g. timeout = \"2min\" (default \"30s\")"),
                    );
                    return None;
                }
            },
        };
        Some(PassphraseSource::Command {
            argv: command.value.clone(),
            timeout,
        })
    }

    /// A local path as written, relative to the cluster file's folder, `~` expanded.
    fn local_path(&self, written: &str) -> PathBuf {
        if let Some(rest) = written.strip_prefix("~/") {
            if let Some(home) = std::env::var_os("HOME") {
                return PathBuf::from(home).join(rest);
            }
        }
        self.base_dir.join(written)
    }

    fn local_file(&mut self, written: &Spanned<String>, what: &str) -> Option<PathBuf> {
        let path = self.local_path(written);
        if path.is_file() {
            return Some(path);
        }
        self.report(
            Problem::new(
                Rule::TlsFileMissing,
                format!("the {what} {} does not exist", path.display()),
            )
            .at(written.span.clone(), "no such file")
            .help(format!(
                "paths are relative to the cluster file's folder ({})",
                if self.base_dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &self.base_dir
                }
                .display()
            )),
        );
        None
    }

    fn settings(&mut self, table: Option<&Spanned<Vec<SettingEntry>>>) -> SpannedSettings {
        let mut settings = SpannedSettings::new();
        for (name, value) in table.map(|t| t.value.iter()).into_iter().flatten() {
            if !is_setting_name(name) {
                self.report(
                    Problem::new(Rule::InvalidSettingName, format!("{:?} is not a PostgreSQL setting name", name.value))
                        .at(name.span.clone(), "not a setting name")
                        .help("setting names are lowercase letters, digits and _, with at most one prefix. for extensions"),
                );
                continue;
            }
            if let Some(instead) = managed_by_mirrorset(name) {
                self.report(
                    Problem::new(
                        Rule::ManagedSetting,
                        format!("`{}` is managed by mirrorset", name.value),
                    )
                    .at(name.span.clone(), "set by mirrorset")
                    .help(instead),
                );
                continue;
            }
            if self.setting_value(name, value) {
                settings.insert(name.value.clone(), value.clone());
            }
        }
        settings
    }

    /// Checks one setting's value on its own; true when it is usable.
    fn setting_value(&mut self, name: &str, value: &Spanned<SettingValue>) -> bool {
        let unsafe_value = |reason: &str, help: &str| {
            Problem::new(
                Rule::UnsafeSetting,
                format!("{name} = {} {reason}", value.value),
            )
            .at(value.span.clone(), "unsafe for a replicated cluster")
            .help(help.to_owned())
        };
        let cannot_carry = |reason: String| {
            Problem::new(Rule::InvalidSettingValue, format!("{name}: {reason}"))
                .at(value.span.clone(), "no postgresql.conf value can hold this")
                .help("PostgreSQL reads one value per line, as text, a finite number or a 32-bit integer")
        };
        let problem = match (name, &value.value) {
            (_, SettingValue::String(text)) if !crate::model::config_can_carry(text) => Some(
                cannot_carry("the value holds a line break or another control character".into()),
            ),
            (_, SettingValue::Float(x)) if !x.is_finite() => {
                Some(cannot_carry(format!("{x} is not a finite number")))
            }
            (_, SettingValue::Integer(n)) if i32::try_from(*n).is_err() => Some(cannot_carry(
                format!("{n} is outside the range of PostgreSQL's integer settings"),
            )),
            ("wal_level", SettingValue::String(level))
                if level != "replica" && level != "logical" =>
            {
                Some(unsafe_value(
                    "leaves no WAL for mirrors to replay",
                    "mirrorset writes wal_level = replica; set \"logical\" if you also need logical decoding",
                ))
            }
            ("wal_log_hints" | "hot_standby", v) if setting_is_off(v) => Some(unsafe_value(
                if name == "wal_log_hints" {
                    "makes pg_rewind impossible, so an old primary could never rejoin"
                } else {
                    "makes the read-only servers refuse every read"
                },
                "leave it out: mirrorset turns it on",
            )),
            _ => match (unit_kind(name), &value.value) {
                (Some(UnitKind::Size), SettingValue::String(text)) => text.parse::<Size>().err(),
                (Some(UnitKind::Duration), SettingValue::String(text)) => {
                    text.parse::<GucDuration>().err()
                }
                _ => None,
            }
            .map(|reason| {
                Problem::new(Rule::InvalidSettingValue, format!("{name}: {reason}"))
                    .at(value.span.clone(), "PostgreSQL would refuse this value")
                    .help("or give a plain integer in the setting's base unit")
            }),
        };
        match problem {
            Some(problem) => {
                self.report(problem);
                false
            }
            None => true,
        }
    }

    fn nodes(
        &mut self,
        table: Option<&Spanned<Vec<NodeEntry>>>,
        defaults: Option<&NodeDefaults>,
        cluster_settings: &SpannedSettings,
        transport: ReplicationTransport,
    ) -> Vec<CheckedNode> {
        // A missing or mistyped [nodes] was reported by the reader already.
        let Some(table) = table else {
            return Vec::new();
        };
        let entries = table.value.as_slice();
        if entries.is_empty() {
            let span = table.span.clone();
            self.report(
                Problem::new(Rule::NoNodes, "the cluster has no nodes")
                    .at(span, "at least one node is needed")
                    .help("add a table per node: [nodes.db1] host = \"10.0.0.11\""),
            );
            return Vec::new();
        }
        let members = entries
            .iter()
            .filter(|(_, node)| {
                node.state
                    .as_ref()
                    .is_none_or(|state| state.value == "member")
            })
            .count() as i64;
        let checked: Vec<(Range<usize>, CheckedNode)> = entries
            .iter()
            .filter_map(|(name, section)| {
                self.node(
                    name,
                    section,
                    defaults,
                    cluster_settings,
                    transport,
                    members,
                )
                .map(|node| (name.span.clone(), node))
            })
            .collect();
        self.co_located(&checked);
        checked.into_iter().map(|(_, node)| node).collect()
    }

    /// Nodes on one machine (Debian's pg_createcluster gives several) must
    /// not share a data directory, passfile or state folder (lock, audit
    /// log, TLS files): an apply would lock itself out, or one node's
    /// files would be another's.
    fn co_located(&mut self, nodes: &[(Range<usize>, CheckedNode)]) {
        for (index, (span, checked)) in nodes.iter().enumerate() {
            let node = &checked.node;
            for (first_span, other) in &nodes[..index] {
                let other = &other.node;
                // The same host and port is one server: DuplicateHost says so.
                if !node.host.eq_ignore_ascii_case(&other.host)
                    || node.postgres.port == other.postgres.port
                {
                    continue;
                }
                let shared = [
                    (
                        "data directory",
                        &node.postgres.data_dir,
                        &other.postgres.data_dir,
                    ),
                    (
                        "passfile",
                        &node.postgres.passfile,
                        &other.postgres.passfile,
                    ),
                    (
                        "state folder",
                        &node.postgres.state_dir,
                        &other.postgres.state_dir,
                    ),
                ]
                .into_iter()
                .find(|(_, a, b)| a == b)
                .map(|(what, path, _)| (what, path.clone()));
                if let Some((what, path)) = shared {
                    self.report(
                        Problem::new(
                            Rule::SharedNodePath,
                            format!(
                                "nodes {} and {} are on host {} and share the {what} {path}",
                                other.name, node.name, node.host
                            ),
                        )
                        .at(span.clone(), "shares it")
                        .at(first_span.clone(), "with this node")
                        .help("give each node on a machine its own postgres.data_dir, postgres.state_dir (the node's lock, audit log and TLS files) and postgres.passfile"),
                    );
                }
            }
        }
    }

    fn node(
        &mut self,
        name: &Spanned<String>,
        section: &Spanned<super::file::NodeSection>,
        defaults: Option<&NodeDefaults>,
        cluster_settings: &SpannedSettings,
        transport: ReplicationTransport,
        members: i64,
    ) -> Option<CheckedNode> {
        let node_name = self.identifier(name, NodeName::new, Rule::InvalidNodeName, "node name");
        let host = section
            .host
            .as_ref()
            .and_then(|host| self.host(host, "host"));
        let ssh_host = match &section.ssh_host {
            Some(ssh_host) => self.host(ssh_host, "ssh_host"),
            None => host.clone(),
        };
        let slot = match (&section.slot, &node_name) {
            (Some(slot), _) => {
                self.identifier(slot, SlotName::new, Rule::InvalidSlotName, "slot name")
            }
            (None, Some(node_name)) => SlotName::default_for(node_name).ok(),
            (None, None) => None,
        };
        let state = match &section.state {
            None => Some(NodeState::Member),
            Some(state) => match state.parse() {
                Ok(parsed) => Some(parsed),
                Err(()) => {
                    self.report(
                        Problem::new(Rule::InvalidState, format!("state {:?} is not one mirrorset knows", state.value))
                            .at(state.span.clone(), "expected \"member\", \"standalone\" or \"absent\"")
                            .help("member: in the cluster; standalone: detached and promoted on its own; absent: removed, node left alone"),
                    );
                    None
                }
            },
        };
        let tls = match (&section.tls, transport) {
            (Some(tls), _) => {
                let cert = tls
                    .cert
                    .as_ref()
                    .and_then(|cert| self.local_file(cert, "certificate"));
                let key = tls
                    .key
                    .as_ref()
                    .and_then(|key| self.local_file(key, "private key"));
                cert.zip(key).map(|(cert, key)| NodeTls { cert, key })
            }
            (None, ReplicationTransport::Tls) => {
                self.report(
                    Problem::new(
                        Rule::TlsMissing,
                        format!("node {} has no certificate, but transport is \"tls\"", name.value),
                    )
                    .at(name.span.clone(), "needs tls = { cert = \"…\", key = \"…\" }")
                    .help("give every node a certificate for its host, signed by [replication.tls] ca"),
                );
                None
            }
            (None, ReplicationTransport::Plain) => None,
        };
        let mut settings = cluster_settings.clone();
        settings.extend(self.settings(section.settings.as_ref()));
        if let (Some(host), Some(state)) = (&host, state) {
            self.node_settings(&settings, host, state, members);
        }
        let ssh = self.ssh(
            defaults.and_then(|d| d.ssh.as_deref()),
            section.ssh.as_deref(),
            ssh_host.clone(),
        );
        let access = match section
            .access
            .as_ref()
            .or_else(|| defaults.and_then(|d| d.access.as_ref()))
        {
            None => Some(Access::Ssh),
            Some(access) if access.value == "ssh" => Some(Access::Ssh),
            Some(access) if access.value == "local" => Some(Access::Local),
            Some(access) => {
                self.report(
                    Problem::new(Rule::InvalidAccess, format!("access {:?} is not one mirrorset knows", access.value))
                        .at(access.span.clone(), "expected \"ssh\" or \"local\"")
                        .help("\"ssh\" logs in to the node; \"local\" runs on this machine, for the node mirrorset runs on"),
                );
                None
            }
        };
        let postgres = self.postgres(
            defaults.and_then(|d| d.postgres.as_deref()),
            section.postgres.as_deref(),
        );
        Some(CheckedNode {
            node: Node {
                name: node_name?,
                host: host?,
                slot: slot?,
                state: state?,
                tls,
                settings: settings
                    .into_iter()
                    .map(|(key, value)| (key, value.value))
                    .collect::<Settings>(),
                access: access?,
                ssh: ssh?,
                postgres: postgres?,
                role_files: Vec::new(),
                sync: Vec::new(),
            },
            state_span: section.state.as_ref().map(|state| state.span.clone()),
        })
    }

    /// Checks that need the node: sizes that depend on the member count, its listen address.
    fn node_settings(
        &mut self,
        settings: &SpannedSettings,
        host: &str,
        state: NodeState,
        members: i64,
    ) {
        if state != NodeState::Member {
            return;
        }
        for name in ["max_wal_senders", "max_replication_slots"] {
            if let Some(value) = settings.get(name) {
                if let SettingValue::Integer(n) = value.value {
                    if n < members {
                        self.report(
                            Problem::new(
                                Rule::UnsafeSetting,
                                format!("{name} = {n} is below the {members} the cluster's members need"),
                            )
                            .at(value.span.clone(), format!("at least {members}"))
                            .help("leave it out: mirrorset sizes it from the number of members, with headroom"),
                        );
                    }
                }
            }
        }
        if let Some(value) = settings.get("listen_addresses") {
            if let SettingValue::String(addresses) = &value.value {
                let covers = addresses.split(',').map(str::trim).any(|address| {
                    address == "*" || address == "0.0.0.0" || address == "::" || address == host
                });
                if !covers {
                    self.report(
                        Problem::new(
                            Rule::UnsafeSetting,
                            format!("listen_addresses = '{addresses}' does not include this node's host {host}"),
                        )
                        .at(value.span.clone(), format!("mirrors connect to {host}"))
                        .help("leave it out (mirrorset adds the host), or include the host or '*'"),
                    );
                }
            }
        }
    }

    fn host(&mut self, host: &Spanned<String>, what: &str) -> Option<String> {
        if host.parse::<IpAddr>().is_ok() || is_dns_name(host) && !is_numeric_name(host) {
            return Some(host.value.clone());
        }
        if is_numeric_name(host) {
            self.report(
                Problem::new(Rule::InvalidHost, format!("{what} {:?} is not an IP address or DNS name", host.value))
                    .at(host.span.clone(), "numbers, but not a dotted-decimal IPv4 address")
                    .help("the C library, so libpq and pg_hba.conf, reads a leading 0 as octal, 0x as hex and fewer than four numbers as a shorter form: it would be another address; write four decimal numbers, e.g. \"10.0.0.12\""),
            );
            return None;
        }
        self.report(
            Problem::new(Rule::InvalidHost, format!("{what} {:?} is not an IP address or DNS name", host.value))
                .at(host.span.clone(), "not an address")
                .help("write the address other nodes reach this node at, e.g. \"10.0.0.12\" or \"db2.example.net\", without port or scheme"),
        );
        None
    }

    fn port(&mut self, port: Option<&Spanned<i64>>, default: u16) -> Option<u16> {
        let Some(port) = port else {
            return Some(default);
        };
        match u16::try_from(port.value) {
            Ok(valid) if valid > 0 => Some(valid),
            _ => {
                self.report(
                    Problem::new(
                        Rule::InvalidPort,
                        format!("port {} is out of range", port.value),
                    )
                    .at(port.span.clone(), "expected 1 to 65535"),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, value: Option<&Spanned<String>>, what: &str) -> Option<Option<String>> {
        match value {
            Some(text) if text.trim().is_empty() => {
                self.report(
                    Problem::new(Rule::EmptyValue, format!("{what} is empty"))
                        .at(text.span.clone(), "empty")
                        .help("leave the key out to use the default"),
                );
                None
            }
            other => Some(other.map(|text| text.value.clone())),
        }
    }

    fn ssh(
        &mut self,
        defaults: Option<&SshSection>,
        node: Option<&SshSection>,
        host: Option<String>,
    ) -> Option<SshTarget> {
        let pick = |field: fn(&SshSection) -> Option<&Spanned<String>>| {
            node.and_then(field).or_else(|| defaults.and_then(field))
        };
        let port = node
            .and_then(|s| s.port.as_ref())
            .or_else(|| defaults.and_then(|s| s.port.as_ref()));
        let user = self.non_empty(pick(|s| s.user.as_ref()), "ssh.user");
        let key = self.non_empty(pick(|s| s.key.as_ref()), "ssh.key");
        let known_hosts = self.non_empty(pick(|s| s.known_hosts.as_ref()), "ssh.known_hosts");
        let config = self.non_empty(pick(|s| s.config.as_ref()), "ssh.config");
        let port = match port {
            Some(port) => Some(self.port(Some(port), 0)?),
            None => None,
        };
        Some(SshTarget {
            host: host?,
            port,
            user: user?,
            key: key?.map(|key| self.local_path(&key)),
            known_hosts: known_hosts?.map(|file| self.local_path(&file)),
            config: config?.map(|file| self.local_path(&file)),
        })
    }

    fn postgres(
        &mut self,
        defaults: Option<&PostgresSection>,
        node: Option<&PostgresSection>,
    ) -> Option<PostgresLayout> {
        let pick = |field: fn(&PostgresSection) -> Option<&Spanned<String>>| {
            node.and_then(field).or_else(|| defaults.and_then(field))
        };
        // Debian's layout (pg_createcluster's): the cluster named by the
        // config dir, else by the data dir, else 15/main, gives the others.
        let written_config_dir = pick(|p| p.config_dir.as_ref());
        let written_data_dir = pick(|p| p.data_dir.as_ref());
        let debian = match (written_config_dir, written_data_dir) {
            (Some(config_dir), _) => DebianCluster::from_config_dir(config_dir),
            (None, Some(data_dir)) => DebianCluster::from_data_dir(data_dir),
            (None, None) => DebianCluster::from_config_dir(DEFAULT_CONFIG_DIR),
        };
        let data_dir = self.remote_path(
            written_data_dir,
            "postgres.data_dir",
            &debian
                .as_ref()
                .map_or(DEFAULT_DATA_DIR.to_owned(), DebianCluster::data_dir),
        );
        let config_dir = self.remote_path(
            written_config_dir,
            "postgres.config_dir",
            &debian
                .as_ref()
                .map_or(DEFAULT_CONFIG_DIR.to_owned(), DebianCluster::config_dir),
        );
        // The major of whichever dir is Debian's (a config dir of one's own
        // beside /var/lib/postgresql/16/main still means 16).
        let major = debian.clone().or_else(|| {
            written_data_dir.and_then(|data_dir| DebianCluster::from_data_dir(data_dir))
        });
        let default_bin_dir = major
            .as_ref()
            .map_or(DEFAULT_BIN_DIR.to_owned(), DebianCluster::bin_dir);
        let bin_dir = self.remote_path(
            pick(|p| p.bin_dir.as_ref()),
            "postgres.bin_dir",
            &default_bin_dir,
        );
        // pg_ctlcluster when the config dir is the Debian cluster's own.
        let pg_ctlcluster = debian
            .clone()
            .filter(|cluster| config_dir.as_deref() == Some(cluster.config_dir().as_str()));
        let socket_dir_named = pick(|p| p.socket_dir.as_ref()).is_some();
        let socket_dir = self.remote_path(
            pick(|p| p.socket_dir.as_ref()),
            "postgres.socket_dir",
            DEFAULT_SOCKET_DIR,
        );
        let data_dir_or_default = data_dir.as_deref().unwrap_or(DEFAULT_DATA_DIR);
        // Named after the data directory, so clusters side by side on one
        // machine (Debian's /var/lib/postgresql/15/{a,b}) keep theirs apart.
        let default_state_dir = {
            let path = Path::new(data_dir_or_default);
            let parent = path.parent().unwrap_or(Path::new("/"));
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data".to_owned());
            parent
                .join(format!("mirrorset-{name}"))
                .display()
                .to_string()
        };
        let state_dir_written = pick(|p| p.state_dir.as_ref());
        let state_dir =
            self.remote_path(state_dir_written, "postgres.state_dir", &default_state_dir);
        let in_state_dir = |file: &str| {
            let dir = state_dir.as_deref().unwrap_or(&default_state_dir);
            Path::new(dir).join(file).display().to_string()
        };
        let default_passfile = in_state_dir("mirrorset.pgpass");
        let default_log_file = match &pg_ctlcluster {
            Some(cluster) => cluster.log_file(),
            None => in_state_dir("postgresql.log"),
        };
        let passfile_written = pick(|p| p.passfile.as_ref());
        let passfile = self.remote_path(passfile_written, "postgres.passfile", &default_passfile);
        let log_file = self.remote_path(
            pick(|p| p.log_file.as_ref()),
            "postgres.log_file",
            &default_log_file,
        );
        let os_user = self.non_empty(pick(|p| p.os_user.as_ref()), "postgres.os_user");
        let port = node
            .and_then(|p| p.port.as_ref())
            .or_else(|| defaults.and_then(|p| p.port.as_ref()));
        let port = self.port(port, DEFAULT_POSTGRES_PORT);
        let service = node
            .and_then(|p| p.service.as_ref())
            .or_else(|| defaults.and_then(|p| p.service.as_ref()));
        let pg_ctlcluster_service =
            pg_ctlcluster
                .clone()
                .map(|cluster| ServiceControl::PgCtlCluster {
                    major: cluster.major,
                    cluster: cluster.name,
                });
        let service = match service {
            None => Some(pg_ctlcluster_service.unwrap_or(ServiceControl::PgCtl)),
            Some(named) if matches!(&named.value, ServiceSpec::Named(name) if name == "pg_ctlcluster") =>
            {
                if pg_ctlcluster_service.is_none() {
                    self.report(
                        Problem::new(
                            Rule::InvalidService,
                            "service \"pg_ctlcluster\" needs a Debian cluster's config dir".to_owned(),
                        )
                        .at(named.span.clone(), "the config dir is not /etc/postgresql/<major>/<name>")
                        .help("set postgres.config_dir = \"/etc/postgresql/<major>/<name>\", as pg_lsclusters lists it, or use service = \"pg_ctl\""),
                    );
                }
                pg_ctlcluster_service
            }
            Some(service) => self.service(service),
        };
        // A default passfile is in the state folder, checked on its own below.
        if let (Some(data_dir), Some(passfile), Some(written)) =
            (&data_dir, &passfile, passfile_written)
        {
            let inside = Path::new(passfile).starts_with(Path::new(data_dir));
            if inside {
                let span = written.span.clone();
                self.report(
                    Problem::new(
                        Rule::PassfileInDataDir,
                        format!("the passfile {passfile} is inside the data directory {data_dir}"),
                    )
                    .at(span, "inside the data directory")
                    .help("pg_basebackup would copy it to every mirror and pg_rewind would overwrite it; put it beside the data directory"),
                );
            }
        }
        if let (Some(data_dir), Some(state_dir)) = (&data_dir, &state_dir) {
            if Path::new(state_dir).starts_with(Path::new(data_dir)) {
                let span = state_dir_written.map(|p| p.span.clone()).unwrap_or(0..0);
                self.report(
                    Problem::new(
                        Rule::StateDirInDataDir,
                        format!("the state folder {state_dir} is inside the data directory {data_dir}"),
                    )
                    .at(span, "inside the data directory")
                    .help("pg_basebackup would copy the lock and TLS key to every mirror and pg_rewind would overwrite them; put it beside the data directory"),
                );
            }
        }
        Some(PostgresLayout {
            data_dir: data_dir?,
            config_dir: config_dir?,
            bin_dir: bin_dir?,
            port: port?,
            socket_dir: socket_dir?,
            socket_dir_named,
            service: service?,
            state_dir: state_dir?,
            passfile: passfile?,
            log_file: log_file?,
            os_user: os_user?.unwrap_or_else(|| DEFAULT_OS_USER.to_owned()),
        })
    }

    /// `[[sync]]`: absolute paths, a glob only in the last component, an
    /// octal mode, an owner that is a user name, no path twice.
    fn sync(
        &mut self,
        entries: Option<&Spanned<Vec<Spanned<super::file::SyncSection>>>>,
    ) -> Vec<SyncEntry> {
        let mut checked: Vec<SyncEntry> = Vec::new();
        for (index, entry) in entries.iter().flat_map(|e| e.iter()).enumerate() {
            let what = format!("sync[{index}].path");
            let Some(path) = self.remote_path(entry.path.as_ref(), &what, "") else {
                continue;
            };
            let span = entry
                .path
                .as_ref()
                .map(|p| p.span.clone())
                .unwrap_or(entry.span.clone());
            let folder = path
                .rsplit_once('/')
                .map(|(folder, _)| folder)
                .unwrap_or("");
            let invalid = |message: String, help: &str| {
                Problem::new(Rule::InvalidSync, message)
                    .at(span.clone(), "here")
                    .help(help.to_owned())
            };
            if folder.contains(['*', '?', '[']) {
                self.report(invalid(
                    format!("{path}: a glob may only be in the last component"),
                    "name the folder, e.g. /opt/mss/packages/*.zip",
                ));
                continue;
            }
            if checked.iter().any(|other| other.path == path) {
                self.report(invalid(
                    format!("{path} is named by two [[sync]] entries"),
                    "give each file or glob one entry",
                ));
                continue;
            }
            let mode = match &entry.mode {
                None => None,
                Some(mode) => {
                    match u32::from_str_radix(mode.trim_start_matches('0'), 8) {
                        Ok(bits) if mode.len() <= 4 && bits <= 0o777 => Some(bits),
                        _ if mode.trim_start_matches('0').is_empty() => Some(0),
                        _ => {
                            self.report(
                            Problem::new(Rule::InvalidSync, format!("mode {:?} is not an octal file mode", mode.value))
                                .at(mode.span.clone(), "expected e.g. \"0600\"")
                                .help("write the mode as a string of octal digits, e.g. mode = \"0640\""),
                        );
                            continue;
                        }
                    }
                }
            };
            let owner = match &entry.owner {
                Some(owner) if !is_os_user_name(owner) => {
                    self.report(
                        Problem::new(
                            Rule::InvalidSync,
                            format!("owner {:?} is not an OS user name", owner.value),
                        )
                        .at(owner.span.clone(), "expected e.g. \"postgres\"")
                        .help("name the user as /etc/passwd does: a lowercase letter or _, then letters, digits, _ or -, 32 at most"),
                    );
                    continue;
                }
                owner => owner.as_ref().map(|o| o.value.clone()),
            };
            checked.push(SyncEntry {
                path,
                mode,
                owner,
                delete: entry.delete.as_ref().is_some_and(|d| d.value),
                sensitive: entry.sensitive.as_ref().is_some_and(|s| s.value),
            });
        }
        checked
    }

    /// `[hooks]`: each an argv whose program is named and whose arguments
    /// a remote argv carries (anything but NUL).
    fn hooks(&mut self, hooks: Option<&Spanned<super::file::HooksSection>>) -> Hooks {
        let Some(hooks) = hooks else {
            return Hooks::default();
        };
        let mut argv = |name: &str, written: Option<&Spanned<Vec<String>>>| {
            let written = written?;
            let problem = if written
                .first()
                .is_none_or(|program| program.trim().is_empty())
            {
                Some("names no program")
            } else if written.iter().any(|arg| arg.contains('\0')) {
                Some("has an argument holding NUL")
            } else {
                None
            };
            match problem {
                Some(problem) => {
                    self.report(
                        Problem::new(Rule::InvalidHook, format!("hooks.{name} {problem}"))
                            .at(written.span.clone(), "here")
                            .help("a hook is an argv list, e.g. [\"sudo\", \"-n\", \"systemctl\", \"stop\", \"app\"]"),
                    );
                    None
                }
                None => Some(written.value.clone()),
            }
        };
        Hooks {
            before_role_change: argv("before_role_change", hooks.before_role_change.as_ref()),
            after_role_change: argv("after_role_change", hooks.after_role_change.as_ref()),
            fence: argv("fence", hooks.fence.as_ref()),
        }
    }

    /// `[[files]]`: each entry's path, format and role tables, every
    /// key and value one a properties file carries.
    fn role_files(
        &mut self,
        files: Option<&Spanned<Vec<Spanned<super::file::RoleFileSection>>>>,
    ) -> Vec<RoleFile> {
        let Some(files) = files else {
            return Vec::new();
        };
        let mut checked: Vec<RoleFile> = Vec::new();
        let mut seen: Vec<(String, Range<usize>)> = Vec::new();
        for (index, entry) in files.iter().enumerate() {
            let what = format!("files[{index}].path");
            let Some(path) = self.remote_path(entry.path.as_ref(), &what, "") else {
                continue;
            };
            let path_span = entry
                .path
                .as_ref()
                .map(|p| p.span.clone())
                .unwrap_or(entry.span.clone());
            if let Some((_, first)) = seen.iter().find(|(p, _)| *p == path) {
                self.report(
                    Problem::new(
                        Rule::InvalidRoleFile,
                        format!("{path} is named by two [[files]] entries"),
                    )
                    .at(path_span.clone(), "again")
                    .at(first.clone(), "first here")
                    .help("give each file one entry, with a table per role"),
                );
                continue;
            }
            seen.push((path.clone(), path_span));
            let properties = match entry.format.as_ref() {
                None => false,
                Some(format) if format.value == "whole" => false,
                Some(format) if format.value == "properties" => true,
                Some(format) => {
                    self.report(
                        Problem::new(Rule::InvalidRoleFile, format!("format {:?} is not one mirrorset writes", format.value))
                            .at(format.span.clone(), "expected \"whole\" or \"properties\"")
                            .help("\"whole\": each role's content is the file; \"properties\": set and unset key=value lines"),
                    );
                    continue;
                }
            };
            if entry.primary.is_none() && entry.mirror.is_none() && entry.standalone.is_none() {
                self.report(
                    Problem::new(Rule::InvalidRoleFile, format!("{path} names no role"))
                        .at(entry.span.clone(), "no primary, mirror or standalone table")
                        .help("e.g. primary = { content = \"master\\n\" } and mirror = { content = \"ro\\n\" }"),
                );
                continue;
            }
            let mut edit = |content: Option<&Spanned<super::file::RoleFileContent>>| {
                content.map(|content| self.role_file_edit(content, properties))
            };
            let (primary, mirror, standalone) = (
                edit(entry.primary.as_ref()),
                edit(entry.mirror.as_ref()),
                edit(entry.standalone.as_ref()),
            );
            let (Ok(primary), Ok(mirror), Ok(standalone)) = (
                primary.transpose(),
                mirror.transpose(),
                standalone.transpose(),
            ) else {
                continue;
            };
            checked.push(RoleFile {
                path,
                primary,
                mirror,
                standalone,
            });
        }
        checked
    }

    /// One role's table: `content`, or `set`/`unset` in a properties file.
    /// None (reported) when it cannot be written.
    fn role_file_edit(
        &mut self,
        content: &Spanned<super::file::RoleFileContent>,
        properties: bool,
    ) -> Result<RoleFileEdit, ()> {
        let keys_given = content.set.is_some() || content.unset.is_some();
        let problem = |message: &str, span: Range<usize>, help: &str| {
            Problem::new(Rule::InvalidRoleFile, message.to_owned())
                .at(span, "here")
                .help(help.to_owned())
        };
        match (&content.content, keys_given, properties) {
            (Some(_), true, _) => {
                self.report(problem("a role table has content and keys", content.span.clone(), "content replaces the whole file; set and unset edit a properties file: use one"));
                Err(())
            }
            (Some(text), false, false) => {
                if text.contains('\0') {
                    self.report(problem(
                        "the content holds a NUL byte",
                        text.span.clone(),
                        "a file's text cannot hold NUL",
                    ));
                    return Err(());
                }
                Ok(RoleFileEdit::Content(text.value.clone()))
            }
            (Some(text), false, true) => {
                self.report(problem(
                    "content in a format = \"properties\" entry",
                    text.span.clone(),
                    "use set and unset, or format = \"whole\"",
                ));
                Err(())
            }
            (None, true, false) => {
                self.report(problem(
                    "set and unset edit a properties file",
                    content.span.clone(),
                    "add format = \"properties\" to the entry",
                ));
                Err(())
            }
            (None, false, _) => {
                self.report(problem(
                    "a role table with nothing in it",
                    content.span.clone(),
                    "give it content, or set and unset",
                ));
                Err(())
            }
            (None, true, true) => {
                let mut set = std::collections::BTreeMap::new();
                let mut ok = true;
                for (key, value) in content.set.iter().flat_map(|set| set.iter()) {
                    ok &= self.property_key(key);
                    if value.chars().any(char::is_control) {
                        self.report(problem(
                            &format!("the value of {} holds a control character", key.value),
                            value.span.clone(),
                            "a properties value is one line",
                        ));
                        ok = false;
                    }
                    set.insert(key.value.clone(), value.value.clone());
                }
                let mut unset = std::collections::BTreeSet::new();
                if let Some(keys) = &content.unset {
                    for key in keys.iter() {
                        ok &= self.property_key(&Spanned::new(key.clone(), keys.span.clone()));
                        unset.insert(key.clone());
                    }
                }
                if ok {
                    Ok(RoleFileEdit::Properties { set, unset })
                } else {
                    Err(())
                }
            }
        }
    }

    /// A key a properties line carries as written: no separator, space,
    /// escape, comment mark or control character.
    fn property_key(&mut self, key: &Spanned<String>) -> bool {
        let bad = key.is_empty()
            || key.starts_with(['#', '!'])
            || key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '=' | ':' | '\\'));
        if bad {
            self.report(
                Problem::new(Rule::InvalidRoleFile, format!("{:?} is not a key a properties file carries as written", key.value))
                    .at(key.span.clone(), "not a plain key")
                    .help("keys are written key=value: no spaces, '=', ':', backslash, or leading '#' or '!'"),
            );
        }
        !bad
    }

    fn remote_path(
        &mut self,
        written: Option<&Spanned<String>>,
        what: &str,
        default: &str,
    ) -> Option<String> {
        let Some(written) = written else {
            return Some(default.to_owned());
        };
        // pg_ctl puts -D and -l paths inside a double-quoted shell string,
        // and primary_conninfo and pg_hba carry them too: refuse what the
        // shell would expand or what ends a line.
        if let Some(bad) = written
            .chars()
            .find(|c| c.is_control() || matches!(c, '"' | '$' | '`' | '\\'))
        {
            self.report(
                Problem::new(
                    Rule::UnsafePath,
                    format!("{what} {:?} holds {bad:?}", written.value),
                )
                .at(written.span.clone(), "not safe in a path on the node")
                .help("pg_ctl passes paths through a shell inside double quotes, where \", $, ` and \\ are special; rename the directory"),
            );
            return None;
        }
        if written.starts_with('/') {
            return Some(written.trim_end_matches('/').to_owned())
                .filter(|p| !p.is_empty())
                .or(Some("/".into()));
        }
        self.report(
            Problem::new(Rule::RelativePath, format!("{what} {:?} is not an absolute path", written.value))
                .at(written.span.clone(), "relative")
                .help("paths on the node must start with /, since the login directory differs between nodes and users"),
        );
        None
    }

    fn service(&mut self, service: &Spanned<ServiceSpec>) -> Option<ServiceControl> {
        let invalid = |span: Range<usize>, message: String| {
            Problem::new(Rule::InvalidService, message)
                .at(span, "expected \"pg_ctl\", \"pg_ctlcluster\" or \"systemd:<unit>\"")
                .help("e.g. service = \"systemd:postgresql@15-main\", or service = { start = [...], stop = [...] }")
        };
        match &service.value {
            ServiceSpec::Named(name) if name == "pg_ctl" => Some(ServiceControl::PgCtl),
            ServiceSpec::Named(name) => match name.strip_prefix("systemd:") {
                Some(unit) if !unit.trim().is_empty() => Some(ServiceControl::Systemd {
                    unit: unit.to_owned(),
                }),
                _ => {
                    self.report(invalid(
                        service.span.clone(),
                        format!("service {name:?} is not one mirrorset knows"),
                    ));
                    None
                }
            },
            ServiceSpec::Commands(commands) => {
                let mut argv = |command: Option<&Spanned<Vec<String>>>,
                                what: &str|
                 -> Option<Option<Vec<String>>> {
                    match command {
                        Some(argv)
                            if argv.first().is_none_or(|program| program.trim().is_empty()) =>
                        {
                            self.report(
                                Problem::new(Rule::InvalidService, format!("the service's {what} command is empty"))
                                    .at(argv.span.clone(), "no program")
                                    .help("write the program and its arguments, e.g. [\"sudo\", \"systemctl\", \"start\", \"postgresql\"]"),
                            );
                            None
                        }
                        other => Some(other.map(|argv| argv.value.clone())),
                    }
                };
                let start = argv(commands.start.as_ref(), "start");
                let stop = argv(commands.stop.as_ref(), "stop");
                let restart = argv(commands.restart.as_ref(), "restart");
                let reload = argv(commands.reload.as_ref(), "reload");
                Some(ServiceControl::Commands {
                    start: start??,
                    stop: stop??,
                    restart: restart?,
                    reload: reload?,
                })
            }
        }
    }

    fn primary(&mut self, primary: &Spanned<String>, nodes: &[CheckedNode]) -> Option<NodeName> {
        let Some(node) = nodes
            .iter()
            .find(|checked| checked.node.name.as_str() == primary.value)
        else {
            let closest = nodes
                .iter()
                .map(|checked| {
                    (
                        strsim::jaro_winkler(primary, checked.node.name.as_str()),
                        &checked.node.name,
                    )
                })
                .filter(|(score, _)| *score > 0.7)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let names = nodes
                .iter()
                .map(|c| c.node.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let help = match closest {
                Some((_, name)) => format!("did you mean {name:?}?"),
                None if names.is_empty() => "name one of the [nodes] tables".to_owned(),
                None => format!("the nodes are {names}"),
            };
            if !nodes.is_empty() {
                self.report(
                    Problem::new(
                        Rule::UnknownPrimary,
                        format!("primary {:?} is not a node of this cluster", primary.value),
                    )
                    .at(primary.span.clone(), "no such node")
                    .help(help),
                );
            }
            return None;
        };
        if node.node.state != NodeState::Member {
            let mut problem = Problem::new(
                Rule::PrimaryNotMember,
                format!(
                    "primary {} has state \"{}\"",
                    node.node.name, node.node.state
                ),
            )
            .at(primary.span.clone(), "must be a member");
            if let Some(state_span) = &node.state_span {
                problem = problem.at(state_span.clone(), "set here");
            }
            self.report(problem.help(
                "the primary must be a member; to retire it, first make another member primary",
            ));
            return None;
        }
        Some(node.node.name.clone())
    }

    /// Works on the entries as written, so a duplicate is found even when
    /// one of the nodes has other problems.
    /// Two servers on one machine are distinct members when their ports differ.
    fn duplicates(&mut self, entries: &[NodeEntry], default_port: Option<i64>) {
        let mut hosts: HashMap<(String, i64), (&str, Range<usize>)> = HashMap::new();
        let mut slots: HashMap<String, (&str, Range<usize>)> = HashMap::new();
        for (name, section) in entries {
            if let Some(host) = &section.host {
                let port = section
                    .postgres
                    .as_ref()
                    .and_then(|p| p.port.as_ref())
                    .map(|port| port.value)
                    .or(default_port)
                    .unwrap_or(i64::from(DEFAULT_POSTGRES_PORT));
                let key = (host.to_ascii_lowercase(), port);
                if let Some((first, first_span)) = hosts.insert(key, (name, host.span.clone())) {
                    self.report(
                        Problem::new(
                            Rule::DuplicateHost,
                            format!(
                                "nodes {first} and {} have the same host {} and PostgreSQL port {port}",
                                name.value, host.value
                            ),
                        )
                        .at(host.span.clone(), "used again here")
                        .at(first_span, "first used here")
                        .help("each node is one server: give it its own address (or, on one machine, its own postgres.port)"),
                    );
                }
            }
            let (slot, slot_span) = match &section.slot {
                Some(slot) => (slot.value.clone(), slot.span.clone()),
                None => (name.replace('-', "_"), name.span.clone()),
            };
            if let Some((first, first_span)) = slots.insert(slot.clone(), (name, slot_span.clone()))
            {
                self.report(
                    Problem::new(
                        Rule::DuplicateSlot,
                        format!("nodes {first} and {} would both use slot {slot}", name.value),
                    )
                    .at(slot_span, "second use")
                    .at(first_span, "first use")
                    .help("set a distinct `slot` on one of them (a node's default slot is its name with - as _)"),
                );
            }
        }
    }
}

fn setting_is_off(value: &SettingValue) -> bool {
    match value {
        SettingValue::Bool(b) => !b,
        SettingValue::Integer(n) => *n == 0,
        SettingValue::String(text) => matches!(
            text.to_ascii_lowercase().as_str(),
            "off" | "false" | "no" | "0"
        ),
        SettingValue::Float(_) => false,
    }
}

/// A user name as useradd accepts it by default, which chown and stat print back.
fn is_os_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && name.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

/// Every label a number (decimal, or 0x and hex digits): no DNS name, but
/// what inet_aton, and so getaddrinfo, libpq and pg_hba.conf, may read as
/// an IPv4 address written another way ("10.1", "010.0.0.1", "0x0a.0.0.1").
fn is_numeric_name(text: &str) -> bool {
    text.split('.').all(|label| {
        let digits = label
            .strip_prefix("0x")
            .or_else(|| label.strip_prefix("0X"));
        match digits {
            Some(hex) => hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !label.is_empty() && label.chars().all(|c| c.is_ascii_digit()),
        }
    })
}

fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_are_not_dotted_decimal_are_no_host() {
        // Found by fuzz/fuzz_targets/render_hba.rs: pg_hba.conf read "05.30.0.13"
        // as an address without a mask, and libpq connects to 8.0.0.1 for "010.0.0.1".
        for numeric in [
            "05.30.0.13",
            "010.0.0.1",
            "10.1",
            "1",
            "0x0a.0.0.1",
            "10.0x1",
            "0xdb",
            "1.2.3.4.5",
        ] {
            assert!(
                is_dns_name(numeric) && is_numeric_name(numeric),
                "{numeric}"
            );
        }
        for name in [
            "db1",
            "db2.example.net",
            "10.0.0.12.nip.io",
            "0xdb.example",
            "1db",
        ] {
            assert!(is_dns_name(name) && !is_numeric_name(name), "{name}");
        }
        let file = |host: &str| {
            format!(
                "[cluster]\nname = \"t\"\nprimary = \"db1\"\n[replication]\nuser = \"r\"\n\
                 passphrase = {{ env = \"T\" }}\nmax_slot_wal_keep_size = \"1GB\"\n\
                 [nodes.db1]\nhost = \"10.0.0.1\"\n[nodes.db2]\nhost = \"{host}\"\n"
            )
        };
        let refused = crate::config::parse(Path::new("c.toml"), file("010.0.0.2")).unwrap_err();
        let rules: Vec<Rule> = refused.problems().iter().map(Problem::rule).collect();
        assert_eq!(rules, [Rule::InvalidHost]);
        assert!(crate::config::parse(Path::new("c.toml"), file("10.0.0.2")).is_ok());
    }
}
