//! Why a node could not be reached or a command on it failed: one variant
//! per cause, each naming the node and saying what to do. Pure.

use std::path::PathBuf;

use miette::Diagnostic;

use crate::model::NodeName;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum AccessError {
    #[error("{node}: cannot resolve {host}: {reason}")]
    #[diagnostic(
        code(node::resolve),
        help("check the node's ssh_host (or host) in the cluster file and this machine's DNS")
    )]
    Resolve {
        node: NodeName,
        host: String,
        reason: String,
    },

    #[error("{node}: cannot connect to SSH at {address}: {reason}")]
    #[diagnostic(
        code(node::unreachable),
        help(
            "check that the machine is up, that sshd listens on {address}, and that no firewall is in the way"
        )
    )]
    Connect {
        node: NodeName,
        address: String,
        reason: String,
    },

    #[error("{node}: SSH handshake with {address} failed: {reason}")]
    #[diagnostic(
        code(node::handshake),
        help("is something other than sshd listening on {address}?")
    )]
    Handshake {
        node: NodeName,
        address: String,
        reason: String,
    },

    #[error(
        "{node}: the host key of {host_spec} ({fingerprint}) is marked @revoked in {file} line {line}"
    )]
    #[diagnostic(
        code(node::revoked_host_key),
        help(
            "mirrorset never connects with a revoked key, whatever else known_hosts says; give the node a new host key and trust that one"
        )
    )]
    RevokedHostKey {
        node: NodeName,
        host_spec: String,
        fingerprint: String,
        file: String,
        line: usize,
    },

    #[error("{node}: the host key of {host_spec} ({fingerprint}) is not in {known_hosts}")]
    #[diagnostic(
        code(node::unknown_host_key),
        help(
            "compare {fingerprint} with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node; if it matches, rerun with --accept-new-host-keys to add it"
        )
    )]
    UnknownHostKey {
        node: NodeName,
        host_spec: String,
        fingerprint: String,
        known_hosts: String,
    },

    #[error(
        "{node}: the host key of {host_spec} HAS CHANGED: it is now {fingerprint}, which does not match {known_hosts}"
    )]
    #[diagnostic(
        code(node::changed_host_key),
        help(
            "someone may be intercepting the connection; mirrorset will not connect. If the node was really reinstalled, verify the new key on its console, then remove the old one with `ssh-keygen -R '{host_spec}' -f {known_hosts}`"
        )
    )]
    ChangedHostKey {
        node: NodeName,
        host_spec: String,
        fingerprint: String,
        known_hosts: String,
    },

    #[error("{node}: cannot check the host key against {known_hosts}: {reason}")]
    #[diagnostic(code(node::known_hosts))]
    KnownHosts {
        node: NodeName,
        known_hosts: PathBuf,
        reason: String,
    },

    #[error("{node}: cannot read the SSH key {path}: {reason}")]
    #[diagnostic(
        code(node::key_unreadable),
        help("check the node's ssh.key in the cluster file and the file's permissions")
    )]
    KeyUnreadable {
        node: NodeName,
        path: PathBuf,
        reason: String,
    },

    #[error("{node}: SSH login as {user}@{address} was refused ({tried})")]
    #[diagnostic(
        code(node::auth_failed),
        help(
            "check ssh.user and ssh.key in the cluster file, and that the key is in ~{user}/.ssh/authorized_keys on the node; an encrypted key must be loaded in ssh-agent"
        )
    )]
    AuthFailed {
        node: NodeName,
        user: String,
        address: String,
        tried: String,
    },

    #[error("{node}: the SSH connection was lost while {doing} ({reason})")]
    #[diagnostic(
        code(node::session),
        help(
            "the node, its sshd or the network went away mid-step: what was running there may or may not have finished. Check that the node answers (`mirrorset check`), then run plan again: it reads what is really there"
        )
    )]
    Session {
        node: NodeName,
        doing: String,
        reason: String,
    },

    #[error("{node}: `{program}` did not finish within {seconds}s")]
    #[diagnostic(code(node::timeout))]
    Timeout {
        node: NodeName,
        program: String,
        seconds: u64,
    },

    #[error("{node}: cannot run `{program}`: {reason}")]
    #[diagnostic(code(node::exec))]
    Exec {
        node: NodeName,
        program: String,
        reason: String,
    },

    #[error("{node}: {doing} failed: {reason}")]
    #[diagnostic(code(node::command_failed))]
    CommandFailed {
        node: NodeName,
        doing: String,
        reason: String,
    },

    #[error("{node}: SQL over the SSH session failed: {reason}")]
    #[diagnostic(
        code(node::sql),
        help("is PostgreSQL running, with its socket in the node's postgres.socket_dir?")
    )]
    Sql { node: NodeName, reason: String },
}

impl AccessError {
    /// The node the error is about.
    pub fn node(&self) -> &NodeName {
        match self {
            Self::Resolve { node, .. }
            | Self::Connect { node, .. }
            | Self::Handshake { node, .. }
            | Self::UnknownHostKey { node, .. }
            | Self::RevokedHostKey { node, .. }
            | Self::ChangedHostKey { node, .. }
            | Self::KnownHosts { node, .. }
            | Self::KeyUnreadable { node, .. }
            | Self::AuthFailed { node, .. }
            | Self::Session { node, .. }
            | Self::Timeout { node, .. }
            | Self::Exec { node, .. }
            | Self::CommandFailed { node, .. }
            | Self::Sql { node, .. } => node,
        }
    }
}
