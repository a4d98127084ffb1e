//! One node of the cluster with every default applied: where to reach it,
//! where PostgreSQL lives on it, and what the file wants of it. Pure data.

use std::path::PathBuf;

use serde::Serialize;

use super::{NodeName, NodeState, ServiceControl, Settings, SlotName};

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: NodeName,
    /// The address other nodes replicate from and pg_hba allows.
    pub host: String,
    pub slot: SlotName,
    pub state: NodeState,
    pub tls: Option<NodeTls>,
    /// Cluster-wide `[settings]` overlaid with the node's own.
    pub settings: Settings,
    pub access: Access,
    pub ssh: SshTarget,
    pub postgres: PostgresLayout,
    /// The `[[files]]` of the cluster file, with this node's paths.
    pub role_files: Vec<super::RoleFile>,
    /// The `[[sync]]` entries of the cluster file, with this node's paths.
    pub sync: Vec<super::SyncEntry>,
}

/// How mirrorset reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Over SSH, one session per node per run.
    Ssh,
    /// On the machine mirrorset runs on.
    Local,
}

/// How mirrorset logs in to the node, as far as the cluster file says;
/// what it leaves open, ssh_config decides (then mirrorset's defaults:
/// user postgres, port 22, ~/.ssh/known_hosts).
#[derive(Debug, Clone, Serialize)]
pub struct SshTarget {
    /// `ssh_host`, or `host` when the file names none: what ssh_config's
    /// `Host` patterns match, as the host given to ssh.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// A private key file; without one, ssh_config's IdentityFile, the
    /// default keys and the ssh-agent.
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    /// The ssh_config file read instead of the user's and the machine's (`ssh -F`).
    pub config: Option<PathBuf>,
}

/// Where PostgreSQL lives on the node and how it is run. All paths are on the node.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresLayout {
    pub data_dir: String,
    pub config_dir: String,
    pub bin_dir: String,
    pub port: u16,
    pub socket_dir: String,
    /// The cluster file names `socket_dir`, so mirrorset.conf sets
    /// unix_socket_directories to it; otherwise the server's own value stays.
    pub socket_dir_named: bool,
    pub service: ServiceControl,
    /// Where mirrorset keeps its own files on the node (TLS files, the
    /// apply lock, the audit log, the record of what it created): outside
    /// the data directory, so no clone or pg_rewind replaces or removes them.
    pub state_dir: String,
    /// libpq passfile holding the replication passphrase; mode 0600, outside the data dir.
    pub passfile: String,
    /// Where `pg_ctl -l` writes the server's output.
    pub log_file: String,
    /// The operating-system user that owns the data directory and runs the server.
    pub os_user: String,
}

/// The node's certificate and key, as local files.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}
