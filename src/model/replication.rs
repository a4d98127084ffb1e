//! The cluster-wide replication contract: the role, its passphrase source,
//! the transport and the slot retention limit. Pure data.

use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use super::{PassphraseSource, RoleName, Size};

#[derive(Debug, Clone, Serialize)]
pub struct Replication {
    pub user: RoleName,
    pub passphrase: PassphraseSource,
    pub transport: ReplicationTransport,
    /// The role's CONNECTION LIMIT; -1 is unlimited.
    pub connection_limit: i64,
    pub max_slot_wal_keep_size: Size,
    pub tls: Option<ReplicationTls>,
}

/// How replication connections travel: one value for the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationTransport {
    Plain,
    Tls,
}

impl ReplicationTransport {
    pub const NAMES: [&'static str; 2] = ["plain", "tls"];
}

impl FromStr for ReplicationTransport {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "plain" => Ok(Self::Plain),
            "tls" => Ok(Self::Tls),
            _ => Err(()),
        }
    }
}

/// The certificate authority every node trusts, as a local file.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicationTls {
    pub ca: PathBuf,
    /// Plan warns of a certificate that expires within this many days; 0: never.
    pub expiry_warning_days: u32,
}

/// WAL senders and slots: one per mirror, two per clone in progress
/// (pg_basebackup -X stream), and room to spare; never below PostgreSQL's default.
pub fn wal_sender_budget(members: usize) -> i64 {
    (2 * members as i64 + 2).max(10)
}
