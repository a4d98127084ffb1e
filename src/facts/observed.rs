//! What mirrorset found on each node: the `Observed` half of the plan's
//! input. Serializable both ways so plan scenarios are tested from JSON
//! fixtures; secrets inside (a passfile, a verifier) serialize as
//! "(sensitive)". Pure data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{NodeName, Secret};

/// Facts of every node of a cluster, by node name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observed {
    pub nodes: BTreeMap<NodeName, NodeFacts>,
}

/// One node: reached (with what was found) or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reached", rename_all = "snake_case")]
pub enum NodeFacts {
    /// The node could not be reached; `reason` says why.
    No {
        reason: String,
    },
    /// Absent nodes are never contacted.
    Skipped,
    Yes(Box<Reached>),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reached {
    /// The OS user mirrorset logged in as: what it may do beyond the
    /// PostgreSQL user's files (root can hand a file to another user).
    #[serde(default)]
    pub login_user: String,
    /// "15.18", when the binaries were found.
    pub postgres_version: Option<String>,
    pub data_dir: DataDir,
    pub running: bool,
    /// pg_is_in_recovery(), when running.
    pub in_recovery: Option<bool>,
    /// The timeline the server writes or replays now, when running.
    pub timeline: Option<u32>,
    /// pg_settings rows of the settings that matter, when running.
    #[serde(default)]
    pub settings: BTreeMap<String, ObservedSetting>,
    /// Managed and touched files, by role; None when the file does not exist.
    #[serde(default)]
    pub files: Files,
    /// pg_hba_file_rules errors, when running.
    #[serde(default)]
    pub hba_errors: Vec<String>,
    /// The replication role, when running as primary (mirrors replay the primary's catalog).
    pub role: Option<RoleFacts>,
    /// Physical slots, when running.
    #[serde(default)]
    pub slots: Vec<SlotFacts>,
    pub standby_signal: bool,
    /// An earlier apply's pg_rewind failed on this data directory.
    #[serde(default)]
    pub rewind_failed: bool,
    pub passfile: Option<PassfileFacts>,
    /// The TLS key mirrorset wrote in the state folder (a secret, like it).
    #[serde(default)]
    pub tls_key: Option<PassfileFacts>,
    /// pg_stat_wal_receiver, when running as a standby.
    pub wal_receiver: Option<WalReceiver>,
    /// The WAL position written (primary) or replayed (standby), when running.
    #[serde(default)]
    pub lsn: Option<String>,
    /// pg_stat_replication: who streams from this server.
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// pg_is_wal_replay_paused(), when running as a standby.
    #[serde(default)]
    pub replay_paused: Option<bool>,
    /// The oldest WAL position this server still has in pg_wal, when running
    /// as a primary: a mirror that needs older WAL cannot stream again.
    #[serde(default)]
    pub oldest_wal_lsn: Option<String>,
    /// The record of what mirrorset made on this node, from its state folder.
    #[serde(default)]
    pub owned: Option<crate::model::Owned>,
    /// Why the record could not be read, when it exists but is not one.
    #[serde(default)]
    pub owned_error: Option<String>,
    /// For each `[[sync]]` entry, the files found (a glob's every match).
    #[serde(default)]
    pub synced: Vec<Vec<SyncedFile>>,
    /// Files an earlier mirrorset kept beside the data directory (passfile,
    /// TLS files, audit log), before each node had a state folder.
    #[serde(default)]
    pub legacy_files: Vec<String>,
    /// Roles besides the replication role that could be former ones
    /// (REPLICATION, or named in the record), when running.
    #[serde(default)]
    pub other_roles: BTreeMap<String, OtherRole>,
    /// PostgreSQL's reading of its configuration files as they are now
    /// (pg_file_settings), when running: every row with an error, and every
    /// row of a setting mirrorset writes or the cluster file names.
    #[serde(default)]
    pub file_settings: Vec<FileSetting>,
    /// What pg_settings accepts for each setting the cluster file names.
    #[serde(default)]
    pub setting_limits: BTreeMap<String, SettingLimits>,
    /// Every setting name the server knows; read only when the cluster
    /// file names one it does not, to suggest the nearest.
    #[serde(default)]
    pub known_settings: Vec<String>,
    /// pg_conf_load_time() as Unix seconds, when running.
    #[serde(default)]
    pub conf_load_time: Option<f64>,
    /// The newest modification time of the TLS files mirrorset wrote, as Unix seconds.
    #[serde(default)]
    pub tls_mtime: Option<f64>,
    /// The last FATAL, PANIC or ERROR lines of the server's log.
    #[serde(default)]
    pub log_errors: Vec<String>,
    /// When the server is not running: why PostgreSQL rejects its
    /// configuration (`postgres -C`), None when it would accept it.
    #[serde(default)]
    pub config_rejected: Option<String>,
}

/// One row of pg_file_settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSetting {
    /// The order PostgreSQL read the rows in: a later row wins.
    pub seqno: i32,
    pub file: Option<String>,
    pub line: Option<i32>,
    pub name: Option<String>,
    pub setting: Option<String>,
    pub error: Option<String>,
}

/// "setting could not be applied": a row that is right but waits for a
/// restart; every other error is one PostgreSQL refuses the file for.
pub const PENDING_RESTART_ERROR: &str = "setting could not be applied";

impl FileSetting {
    /// An error that makes PostgreSQL ignore the changes of the file.
    pub fn is_error(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|error| error != PENDING_RESTART_ERROR)
    }
}

/// pg_settings' description of the values a setting takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingLimits {
    /// bool, integer, real, string or enum.
    pub vartype: String,
    pub unit: Option<String>,
    pub min_val: Option<String>,
    pub max_val: Option<String>,
    #[serde(default)]
    pub enumvals: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replica {
    pub application_name: String,
    pub client_addr: Option<String>,
    pub state: String,
    /// WAL sent but not yet replayed, in bytes.
    pub lag_bytes: Option<i64>,
    /// replay_lag in milliseconds.
    pub lag_ms: Option<f64>,
}

/// The state of the data directory, from the file system and pg_controldata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DataDir {
    #[default]
    Missing,
    Empty,
    /// Files, but no PG_VERSION: not a PostgreSQL cluster.
    Foreign,
    /// A clone that did not finish (mirrorset's marker is still beside it).
    Incomplete,
    /// The PostgreSQL user cannot look inside it (owned by root, say):
    /// what it holds is unknown, never "empty".
    Unreadable {
        owner: String,
        mode: String,
    },
    Initialized {
        system_identifier: String,
        /// "in production", "shut down", "in archive recovery", …
        cluster_state: String,
        /// Latest checkpoint's TimeLineID.
        checkpoint_timeline: u32,
        /// "Latest checkpoint location": where a cleanly stopped primary's
        /// shutdown checkpoint is.
        #[serde(default)]
        checkpoint_lsn: Option<String>,
        /// "Latest checkpoint's REDO location": where a stopped server resumes.
        #[serde(default)]
        redo_lsn: Option<String>,
        /// wal_log_hints was on or data checksums were enabled: pg_rewind can
        /// bring this directory back after it diverged.
        #[serde(default = "yes")]
        rewindable: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedSetting {
    /// pg_settings.setting, in the setting's base unit.
    pub setting: String,
    /// pg_settings.unit: "8kB", "MB", "ms", … or none.
    pub unit: Option<String>,
    /// pg_settings.context: "postmaster" settings need a restart.
    pub context: String,
    /// The file the value came from, when it came from a file.
    pub source_file: Option<String>,
    pub pending_restart: bool,
}

/// The files mirrorset read on a node (the list `desired::read_paths`
/// gives), by path: a path read but missing has no entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Files {
    /// The server's pg_hba.conf: the config folder's, or the hba_file a
    /// running server names.
    pub hba_path: Option<String>,
    #[serde(default)]
    pub found: BTreeMap<String, String>,
}

impl Files {
    /// What `path` held, when it was read and exists.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.found.get(path).map(String::as_str)
    }

    /// The server's pg_hba.conf, when it exists.
    pub fn hba(&self) -> Option<&str> {
        self.hba_path.as_deref().and_then(|path| self.text(path))
    }

    /// Records what `path` holds now (None: it does not exist).
    pub fn set(&mut self, path: &str, content: Option<String>) {
        match content {
            Some(text) => self.found.insert(path.to_owned(), text),
            None => self.found.remove(path),
        };
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleFacts {
    pub exists: bool,
    pub login: bool,
    pub replication: bool,
    pub superuser: bool,
    pub connection_limit: i64,
    /// pg_authid.rolpassword.
    pub verifier: Option<Secret<String>>,
    /// Which of the pg_rewind functions the role may execute.
    #[serde(default)]
    pub rewind_grants: BTreeMap<String, bool>,
}

/// A file under `[[sync]]`: what is compared, never its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub mode: u32,
    pub owner: String,
}

/// A role other than the replication role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherRole {
    pub login: bool,
    /// Objects it owns in any database (pg_shdepend): such a role is made
    /// NOLOGIN rather than dropped.
    pub owned_objects: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotFacts {
    pub name: String,
    pub physical: bool,
    pub active: bool,
    pub restart_lsn: Option<String>,
    pub wal_status: Option<String>,
    /// WAL the slot holds back on this server, in bytes.
    pub retained_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassfileFacts {
    pub mode: u32,
    pub owner: String,
    pub content: Secret<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalReceiver {
    pub status: String,
    pub sender_host: Option<String>,
    pub sender_port: Option<i32>,
    pub slot_name: Option<String>,
}

impl RoleFacts {
    /// The role does not exist.
    pub fn missing() -> Self {
        Self {
            exists: false,
            login: false,
            replication: false,
            superuser: false,
            connection_limit: -1,
            verifier: None,
            rewind_grants: BTreeMap::new(),
        }
    }
}

impl NodeFacts {
    pub fn reached(&self) -> Option<&Reached> {
        match self {
            Self::Yes(reached) => Some(reached),
            _ => None,
        }
    }
}

impl Reached {
    pub fn system_identifier(&self) -> Option<&str> {
        match &self.data_dir {
            DataDir::Initialized {
                system_identifier, ..
            } => Some(system_identifier),
            _ => None,
        }
    }

    /// pg_stat_wal_receiver says it streams from `upstream` through `slot`.
    pub fn streams_from(&self, upstream: &crate::model::Node, slot: &str) -> bool {
        self.wal_receiver.as_ref().is_some_and(|w| {
            w.status == "streaming"
                && w.sender_host.as_deref() == Some(upstream.host.as_str())
                && w.sender_port
                    .is_none_or(|port| port == i32::from(upstream.postgres.port))
                && w.slot_name.as_deref() == Some(slot)
        })
    }

    /// Running and not in recovery: accepts writes.
    pub fn is_running_primary(&self) -> bool {
        self.running && self.in_recovery == Some(false)
    }

    pub fn has_data(&self) -> bool {
        matches!(self.data_dir, DataDir::Initialized { .. })
    }

    /// Was last a primary: runs as one, or was stopped (or crashed) as one.
    pub fn was_primary(&self) -> bool {
        if self.running {
            return self.in_recovery == Some(false);
        }
        match &self.data_dir {
            DataDir::Initialized { cluster_state, .. } => {
                !self.standby_signal
                    && matches!(cluster_state.as_str(), "shut down" | "in production")
            }
            _ => false,
        }
    }

    /// mirrorset detached this node as a standalone server (its mirrorset.conf says so).
    pub fn detached_by_mirrorset(&self, node: &crate::model::Node) -> bool {
        self.files
            .text(&crate::desired::read_paths(node).mirrorset_conf)
            .and_then(|conf| conf.lines().next())
            .is_some_and(|first| first.ends_with("(standalone)."))
    }

    /// Where the server would resume streaming: replayed WAL when running,
    /// else the last checkpoint's redo position.
    pub fn resume_lsn(&self) -> Option<crate::model::Lsn> {
        if self.running {
            return self.lsn.as_deref().and_then(crate::model::Lsn::parse);
        }
        match &self.data_dir {
            DataDir::Initialized { redo_lsn, .. } => {
                redo_lsn.as_deref().and_then(crate::model::Lsn::parse)
            }
            _ => None,
        }
    }
}
