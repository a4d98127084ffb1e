//! Shared vocabulary of mirrorset: names, sizes, settings, secrets and the
//! validated cluster. Pure data and parsing, no I/O (except resolving a
//! secret, which happens only when a command asks for it).

mod cluster;
mod debian;
mod duration;
mod hooks;
mod identifier;
mod lsn;
mod node;
mod node_state;
mod owned;
mod replication;
mod role_file;
mod scram;
mod secret;
mod service;
mod setting;
mod size;
mod sql;
mod sync;
mod tls;

pub use cluster::Cluster;
pub use debian::DebianCluster;
pub use duration::GucDuration;
pub use hooks::Hooks;
pub use identifier::{ClusterName, IdentifierError, NodeName, RoleName, SlotName};
pub use lsn::Lsn;
pub use node::{Access, Node, NodeTls, PostgresLayout, SshTarget};
pub use node_state::NodeState;
pub use owned::{OWNED_FILE, OWNED_FORMAT, Owned};
pub use replication::{Replication, ReplicationTls, ReplicationTransport, wal_sender_budget};
pub use role_file::{RoleFile, RoleFileEdit};
pub use scram::{scram_verifier, verifier_matches};
pub use secret::{COMMAND_TIMEOUT, PassphraseSource, REDACTED, Secret, SecretError};
pub use service::ServiceControl;
pub use setting::{
    SettingValue, Settings, UnitKind, config_can_carry, is_setting_name, managed_by_mirrorset,
    unit_kind,
};
pub use size::Size;
pub use sql::quote_identifier;
pub use sync::SyncEntry;
pub use tls::{NodeTlsMaterial, TlsMaterial};
