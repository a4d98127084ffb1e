//! The cluster file as the operator writes it: every table and key, with
//! the span each value came from. These types are the user contract: the
//! JSON schema and the reference in docs/ are generated from them, and the
//! reader fills them. No defaults are applied here. Pure.

use std::collections::BTreeMap;

use schemars::JsonSchema;

use super::Spanned;
use crate::model::SettingValue;

/// A PostgreSQL cluster of one primary and its read-only mirrors, as mirrorset keeps it.
#[derive(Debug, Default, JsonSchema)]
#[schemars(title = "mirrorset cluster file", deny_unknown_fields)]
pub struct ClusterFile {
    /// The cluster's name and which node must be primary.
    #[schemars(required)]
    pub cluster: Option<Spanned<ClusterSection>>,
    /// How mirrors replicate: the role, its passphrase and the transport.
    #[schemars(required)]
    pub replication: Option<Spanned<ReplicationSection>>,
    /// PostgreSQL settings written on every node (a node's own `settings` override them).
    #[schemars(with = "Option<BTreeMap<String, SettingValue>>")]
    pub settings: Option<Spanned<Vec<SettingEntry>>>,
    /// Values every node takes unless it sets its own.
    pub defaults: Option<Spanned<NodeDefaults>>,
    /// The nodes, by name (`[a-z0-9_-]`, at most 63 characters).
    #[schemars(required, with = "BTreeMap<String, NodeSection>")]
    #[schemars(extend("propertyNames" = { "pattern": "^[a-z0-9_-]{1,63}$" }, "minProperties" = 1))]
    pub nodes: Option<Spanned<Vec<NodeEntry>>>,
    /// Files of the application around the database whose content follows each node's role, e.g. a read-only flag on mirrors.
    #[schemars(with = "Option<Vec<RoleFileSection>>")]
    pub files: Option<Spanned<Vec<Spanned<RoleFileSection>>>>,
    /// Files copied from the current primary to every mirror (an encryption key, package folders); compared by checksum, never shown.
    #[schemars(with = "Option<Vec<SyncSection>>")]
    pub sync: Option<Spanned<Vec<Spanned<SyncSection>>>>,
    /// Programs run around a change of role, as plan actions: shown, checked for staleness and audited.
    pub hooks: Option<Spanned<HooksSection>>,
}

/// Each hook is an argv list (`["sudo", "-n", "systemctl", "stop", "app"]`), never a shell string. The environment carries MIRRORSET_CLUSTER, MIRRORSET_NODE, MIRRORSET_OLD_ROLE and MIRRORSET_NEW_ROLE (`primary`, `mirror`, `standalone`).
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HooksSection {
    /// Run on a node, as its SSH user, before its server's role changes: on the old primary before it stops, on a mirror before its promotion. A failure stops the apply before anything irreversible.
    #[schemars(length(min = 1))]
    pub before_role_change: Option<Spanned<Vec<String>>>,
    /// Run on a node, as its SSH user, once its new role is in effect.
    #[schemars(length(min = 1))]
    pub after_role_change: Option<Spanned<Vec<String>>>,
    /// Run on the machine mirrorset runs on during a failover, before the promotion, with MIRRORSET_NODE and MIRRORSET_HOST naming the old primary. A failure refuses the promotion.
    #[schemars(length(min = 1))]
    pub fence: Option<Spanned<Vec<String>>>,
}

/// One `[[sync]]` entry: a file, or a glob in the path's last component, copied from the primary to every mirror.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SyncSection {
    /// Absolute; `{node}` is replaced by the node's name (the primary's expansion is copied to each mirror's). Read and written as the PostgreSQL OS user.
    #[schemars(required)]
    pub path: Option<Spanned<String>>,
    /// The copies' mode, octal as a string (`"0600"`). Default: the primary's file's.
    #[schemars(regex(pattern = "^0?[0-7]{3}$"))]
    pub mode: Option<Spanned<String>>,
    /// The copies' owner, an OS user name. Default: the primary's file's owner. An owner other than the PostgreSQL OS user needs `ssh.user = "root"` on the mirrors: the copy is written as the PostgreSQL OS user and handed over with chown.
    #[schemars(regex(pattern = "^[a-z_][a-z0-9_-]{0,31}$"))]
    pub owner: Option<Spanned<String>>,
    /// Remove a mirror's files under the glob that the primary lacks. Default: false.
    pub delete: Option<Spanned<bool>>,
    /// A secret (a key): no backup of a replaced copy is kept. Contents are never shown in any case, only checksums, sizes and modes. Default: false.
    pub sensitive: Option<Spanned<bool>>,
}

/// One `[[files]]` entry: a file on every member whose content follows the node's role.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RoleFileSection {
    /// The file on each node, absolute; `{node}` is replaced by the node's name. Written as the PostgreSQL OS user, atomically, keeping owner and mode.
    #[schemars(required)]
    pub path: Option<Spanned<String>>,
    /// `whole` (default): each role's `content` is the whole file. `properties`: `key=value` lines, where a role may `set` and `unset` keys and every other line is kept.
    #[schemars(regex(pattern = "^(whole|properties)$"))]
    pub format: Option<Spanned<String>>,
    /// What the primary's copy holds.
    pub primary: Option<Spanned<RoleFileContent>>,
    /// What a mirror's copy holds.
    pub mirror: Option<Spanned<RoleFileContent>>,
    /// What a standalone server's copy holds. Default: the primary's.
    pub standalone: Option<Spanned<RoleFileContent>>,
}

/// What one role wants of a `[[files]]` file.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RoleFileContent {
    /// The whole file (created when missing).
    pub content: Option<Spanned<String>>,
    /// Properties to set, `key = "value"` (format `properties`).
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub set: Option<Spanned<Vec<PropertyEntry>>>,
    /// Properties to remove (format `properties`).
    pub unset: Option<Spanned<Vec<String>>>,
}

/// One `name = value` of a settings table.
pub type SettingEntry = (Spanned<String>, Spanned<SettingValue>);

/// One `key = "value"` of a `[[files]]` role's `set`.
pub type PropertyEntry = (Spanned<String>, Spanned<String>);

/// One `[nodes.NAME]` table.
pub type NodeEntry = (Spanned<String>, Spanned<NodeSection>);

#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ClusterSection {
    /// The cluster's name: `[a-z0-9_-]`, at most 63 characters. It names locks, audit records and backups.
    #[schemars(required, regex(pattern = r"^[a-z0-9_-]{1,63}$"))]
    pub name: Option<Spanned<String>>,
    /// The node that must be primary. Change it to another member to switch over (`mirrorset promote NODE FILE` edits only this value); when the old primary is unreachable, apply needs `--allow-failover`.
    #[schemars(required)]
    pub primary: Option<Spanned<String>>,
}

#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ReplicationSection {
    /// The replication role: `[a-z0-9_]`, at most 63 characters, not `postgres` nor `pg_*`.
    #[schemars(required, regex(pattern = r"^[a-z_][a-z0-9_]{0,62}$"))]
    pub user: Option<Spanned<String>>,
    /// Where the role's passphrase is read from. Never the passphrase itself: this file is meant for version control.
    #[schemars(required)]
    pub passphrase: Option<Spanned<PassphraseRef>>,
    /// How replication travels, one value for the whole cluster: `plain` (default) or `tls`.
    pub transport: Option<Spanned<TransportName>>,
    /// The role's connection limit. Default: twice the number of members plus 2, at least 10 (clones use two connections each). At least the number of members (one per mirror, one for pg_rewind); -1 is unlimited.
    pub connection_limit: Option<Spanned<i64>>,
    /// The most WAL a slot may hold back on the primary, with a PostgreSQL unit ("20GB"). A dead mirror's slot must never fill the primary's disk.
    #[schemars(required, with = "SizeString")]
    pub max_slot_wal_keep_size: Option<Spanned<String>>,
    /// The certificate authority, required when `transport = "tls"`.
    pub tls: Option<Spanned<ReplicationTlsSection>>,
}

/// `plain` or `tls`.
#[derive(Debug, JsonSchema)]
#[schemars(transparent)]
pub struct TransportName(#[schemars(regex(pattern = "^(plain|tls)$"))] pub String);

// Schema-only types describe what the reader accepts; nothing constructs them.
#[allow(dead_code)]
/// A size with a PostgreSQL unit: B, kB, MB, GB or TB (case-sensitive), e.g. "20GB".
#[derive(JsonSchema)]
#[schemars(transparent)]
pub struct SizeString(#[schemars(regex(pattern = r"^[0-9]+ *(B|kB|MB|GB|TB)$"))] pub String);

#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ReplicationTlsSection {
    /// A local PEM file with the CA that signed every node's certificate; uploaded to every node. Relative to this file's folder.
    #[schemars(required)]
    pub ca: Option<Spanned<String>>,
    /// Plan warns when the CA or a node's certificate expires within this many days (default 30; 0: never).
    #[schemars(range(min = 0, max = 3650))]
    pub expiry_warning_days: Option<Spanned<i64>>,
}

/// Exactly one of `env`, `file` or `command`.
#[derive(Debug, Default, JsonSchema)]
#[schemars(with = "PassphraseRefSchema")]
pub struct PassphraseRef {
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub command: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Spanned<String>>,
}

/// Where the passphrase is read from, on the machine that runs mirrorset.
#[allow(dead_code)] // schema only
#[derive(JsonSchema)]
#[schemars(untagged, deny_unknown_fields)]
pub enum PassphraseRefSchema {
    /// An environment variable, e.g. `{ env = "PAM_PROD_REPL_PASSPHRASE" }`.
    Env { env: String },
    /// A local file readable only by its owner, e.g. `{ file = "secrets/repl" }`. Exactly one trailing newline is dropped; a passphrase with a line break or NUL is refused, since the passfile holds one per line.
    File { file: String },
    /// A program whose output is the passphrase, e.g. `{ command = ["pass", "show", "db/repl"] }`. It runs with no input and is stopped after `timeout` (default `"30s"`, at most `"1h"`); when it fails, its stderr is shown. One trailing newline is dropped.
    Command {
        #[schemars(length(min = 1))]
        command: Vec<String>,
        timeout: Option<String>,
    },
}

/// Values every node takes unless it sets its own.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NodeDefaults {
    /// How mirrorset reaches the node: `ssh` (default) or `local`, for the machine mirrorset runs on (commands run as the PostgreSQL OS user through runuser when root).
    #[schemars(regex(pattern = "^(ssh|local)$"))]
    pub access: Option<Spanned<String>>,
    pub ssh: Option<Spanned<SshSection>>,
    pub postgres: Option<Spanned<PostgresSection>>,
}

/// How mirrorset logs in to a node over SSH. What this leaves open, OpenSSH's client configuration decides for the node's `ssh_host` (`~/.ssh/config`, then `/etc/ssh/ssh_config`: Host and Match blocks, HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout, HashKnownHosts, ProxyJump); values here win, as ssh's command-line options do.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SshSection {
    /// The login user. Default: ssh_config's User, else `postgres`. When it is not the PostgreSQL OS user, commands run through `sudo -n -u <os_user>`.
    pub user: Option<Spanned<String>>,
    /// Default: ssh_config's Port, else 22.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<Spanned<i64>>,
    /// A local private key file (`~` allowed). Default: ssh_config's IdentityFile, else `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`, then the ssh-agent (unless IdentitiesOnly).
    pub key: Option<Spanned<String>>,
    /// The local known_hosts file host keys are checked against (then `/etc/ssh/ssh_known_hosts`). Default: ssh_config's UserKnownHostsFile, else `~/.ssh/known_hosts`.
    pub known_hosts: Option<Spanned<String>>,
    /// A local ssh_config file read instead of `~/.ssh/config` and `/etc/ssh/ssh_config`, as `ssh -F` reads it (`~` allowed). Default: those two.
    pub config: Option<Spanned<String>>,
}

/// Where PostgreSQL lives on a node and how it is run. Paths are on the node and absolute.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PostgresSection {
    /// Default: Debian's for the cluster the config dir names (`/etc/postgresql/<major>/<name>` gives `/var/lib/postgresql/<major>/<name>`), else `/var/lib/postgresql/15/main`.
    pub data_dir: Option<Spanned<String>>,
    /// The folder of postgresql.conf; mirrorset.conf is written beside it. Default: Debian's for the cluster the data dir names (`/var/lib/postgresql/<major>/<name>` gives `/etc/postgresql/<major>/<name>`), else `/etc/postgresql/15/main`.
    pub config_dir: Option<Spanned<String>>,
    /// Default: `/usr/lib/postgresql/<major>/bin` for a Debian cluster's config or data dir, else `/usr/lib/postgresql/15/bin`.
    pub bin_dir: Option<Spanned<String>>,
    /// Default: 5432.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<Spanned<i64>>,
    /// The folder of the server's Unix socket, where mirrorset reaches it. When named, mirrorset.conf sets `unix_socket_directories` to it (a clone would otherwise bring the primary's). Default: `/var/run/postgresql`, and the server's own setting is left alone.
    pub socket_dir: Option<Spanned<String>>,
    /// `pg_ctlcluster` (Debian's, the default when the config dir is `/etc/postgresql/<major>/<name>`), `pg_ctl` (the default otherwise), `systemd:<unit>`, or a table of commands.
    pub service: Option<Spanned<ServiceSpec>>,
    /// The folder of mirrorset's own files on the node (apply lock, audit log, TLS files, the record of what mirrorset created), outside the data dir; made with mode 0700 when missing. Default: `mirrorset-<data dir's name>` beside the data dir, so several clusters on one machine keep theirs apart.
    pub state_dir: Option<Spanned<String>>,
    /// The libpq passfile for the replication passphrase, outside the data dir. Default: `mirrorset.pgpass` in the state folder.
    pub passfile: Option<Spanned<String>>,
    /// Where `pg_ctl -l` writes the server's output, and where mirrorset looks for its errors. Default: with pg_ctlcluster, the file pg_lsclusters names (`/var/log/postgresql/postgresql-<major>-<name>.log`); otherwise `postgresql.log` in the state folder.
    pub log_file: Option<Spanned<String>>,
    /// The OS user that owns the data dir and runs the server. Default: `postgres`.
    pub os_user: Option<Spanned<String>>,
}

/// How the server is started, stopped and reloaded.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum ServiceSpec {
    /// `pg_ctl`, `pg_ctlcluster` or `systemd:<unit>`.
    Named(#[schemars(regex(pattern = "^(pg_ctl|pg_ctlcluster|systemd:.+)$"))] String),
    /// Programs with their arguments, run on the node.
    Commands(ServiceCommands),
}

#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ServiceCommands {
    #[schemars(required, length(min = 1))]
    pub start: Option<Spanned<Vec<String>>>,
    #[schemars(required, length(min = 1))]
    pub stop: Option<Spanned<Vec<String>>>,
    /// Default: stop, then start.
    #[schemars(length(min = 1))]
    pub restart: Option<Spanned<Vec<String>>>,
    /// Default: `SELECT pg_reload_conf()`.
    #[schemars(length(min = 1))]
    pub reload: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NodeSection {
    /// The address other nodes replicate from and pg_hba allows: an IP address or DNS name.
    #[schemars(required)]
    pub host: Option<Spanned<String>>,
    /// The host mirrorset connects to over SSH, as given to ssh: an address, a DNS name or an ssh_config alias (its HostName, ProxyJump, … apply). Default: `host`.
    pub ssh_host: Option<Spanned<String>>,
    /// This node's slot on whichever node is primary: `[a-z0-9_]`. Default: the node name with `-` as `_`.
    #[schemars(regex(pattern = r"^[a-z0-9_]{1,63}$"))]
    pub slot: Option<Spanned<String>>,
    /// `member` (default), `standalone` (detached, independent server) or `absent` (removed; the node itself is left alone).
    #[schemars(regex(pattern = "^(member|standalone|absent)$"))]
    pub state: Option<Spanned<String>>,
    /// The node's certificate and key, required when `transport = "tls"`.
    pub tls: Option<Spanned<NodeTlsSection>>,
    /// Settings for this node only, over `[settings]`.
    #[schemars(with = "Option<BTreeMap<String, SettingValue>>")]
    pub settings: Option<Spanned<Vec<SettingEntry>>>,
    /// How mirrorset reaches the node: `ssh` (default) or `local`, for the machine mirrorset runs on (commands run as the PostgreSQL OS user through runuser when root).
    #[schemars(regex(pattern = "^(ssh|local)$"))]
    pub access: Option<Spanned<String>>,
    pub ssh: Option<Spanned<SshSection>>,
    pub postgres: Option<Spanned<PostgresSection>>,
}

#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NodeTlsSection {
    /// A local PEM certificate for the node's host, signed by `[replication.tls] ca`.
    #[schemars(required)]
    pub cert: Option<Spanned<String>>,
    /// The certificate's local private key file; uploaded with mode 0600.
    #[schemars(required)]
    pub key: Option<Spanned<String>>,
}
