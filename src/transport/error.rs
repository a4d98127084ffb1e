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

    #[error("{node}: ssh_config cannot be followed: {reason}")]
    #[diagnostic(
        code(node::ssh_config),
        help(
            "fix the ssh_config block that applies to the node's ssh_host (~/.ssh/config or /etc/ssh/ssh_config); `ssh -G <ssh_host>` shows what ssh makes of it"
        )
    )]
    SshConfig { node: NodeName, reason: String },

    #[error("{node}: the jump host {jump} could not open a connection to {target}: {reason}")]
    #[diagnostic(
        code(node::jump),
        help(
            "check that {jump} reaches {target} and that its sshd allows it (AllowTcpForwarding, PermitOpen)"
        )
    )]
    Jump {
        node: NodeName,
        jump: String,
        target: String,
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
        "{node}: the host key of {host_spec} HAS CHANGED: it is now {fingerprint}, which does not match {file} line {line}"
    )]
    #[diagnostic(
        code(node::changed_host_key),
        help(
            "someone may be intercepting the connection; mirrorset will not connect. If the node was really reinstalled, verify the new key on its console, then remove the old one with `ssh-keygen -R '{host_spec}' -f {file}`"
        )
    )]
    ChangedHostKey {
        node: NodeName,
        host_spec: String,
        fingerprint: String,
        file: String,
        line: usize,
    },

    /// Boxed: the advice carries the whole key line.
    #[error(transparent)]
    #[diagnostic(transparent)]
    HostCertificate(Box<HostCertificateOnly>),

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
            | Self::SshConfig { node, .. }
            | Self::Jump { node, .. }
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
            Self::HostCertificate(refusal) => &refusal.node,
        }
    }
}

/// A host known_hosts trusts only through a `@cert-authority`: libssh2
/// cannot verify the certificate, so the key itself must be trusted.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error(
    "{node}: {host_spec} is trusted only through a host certificate (@cert-authority in {file} line {line}), and mirrorset's SSH library (libssh2) does not verify host certificates; the host key it presented is {key_type} {fingerprint}"
)]
#[diagnostic(
    code(node::host_certificate),
    help(
        "check on the node's console that {fingerprint} is its key (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then trust the key itself: append the line\n  {key_line}\nto {known_hosts} (or `ssh-keyscan -p {port} -t {key_type} {host} >> {known_hosts}`, whose key `ssh-keygen -lf {known_hosts}` must show as {fingerprint}), or rerun with --accept-new-host-keys to add it"
    )
)]
pub struct HostCertificateOnly {
    pub node: NodeName,
    pub host_spec: String,
    pub key_type: String,
    pub fingerprint: String,
    pub file: String,
    pub line: usize,
    pub key_line: String,
    pub host: String,
    pub port: u16,
    pub known_hosts: String,
}
