//! What keeps a node from being what the cluster file says and working,
//! when the plan does not repair it: PostgreSQL's own verdict on its files
//! and settings, and mirrors that do not stream. Each finding has a stable
//! code (`HealthIssue`); `render` words it. Pure data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One thing wrong on one node that the plan leaves wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthFinding {
    pub node: String,
    #[serde(flatten)]
    pub issue: HealthIssue,
}

/// The kinds of ill health, by stable code (`code` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum HealthIssue {
    /// pg_file_settings reports an error: PostgreSQL applies no change
    /// from that file at reload, and a restart would fail.
    ConfigFileError {
        file: String,
        line: Option<i32>,
        setting: Option<String>,
        error: String,
    },
    /// pg_hba_file_rules reports an error: a reload keeps the old rules.
    HbaFileError { error: String },
    /// The cluster file names a setting this server does not have.
    UnknownSetting {
        setting: String,
        suggestion: Option<String>,
    },
    /// The value does not fit what pg_settings accepts for the setting.
    InvalidSettingValue {
        setting: String,
        value: String,
        accepted: String,
    },
    /// A file read after mirrorset.conf sets a setting mirrorset writes:
    /// PostgreSQL would run with that file's value.
    SettingOverridden {
        setting: String,
        value: String,
        file: String,
        line: Option<i32>,
        wanted: String,
    },
    /// `postgres -C` rejects the configuration as a start reads it: a
    /// stopped server would not start, a running one would not restart.
    ConfigurationRejected {
        error: String,
        #[serde(default)]
        server_running: bool,
    },
    /// A running mirror that does not stream from the named primary
    /// through its slot, and nothing in the plan changes that.
    MirrorNotStreaming {
        upstream: String,
        /// What pg_stat_wal_receiver says, when it has a row.
        receiver: Option<ReceiverView>,
        /// The primary's view of the mirror's slot.
        #[serde(default)]
        slot: Option<SlotView>,
        /// The last error in the mirror's log, when there is one.
        cause: Option<String>,
    },
    /// A mirror that receives WAL but does not replay it
    /// (pg_wal_replay_pause()): its reads fall further behind.
    ReplayPaused,
    /// A file of the application the cluster file names is not there to
    /// work with: a `[[files]]` properties file to edit, or a `[[sync]]`
    /// file on the primary to copy. Nothing mirrorset writes makes it.
    ApplicationFileMissing { path: String, section: String },
}

/// pg_stat_wal_receiver's row, as far as health goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiverView {
    pub status: String,
    pub sender_host: Option<String>,
    pub sender_port: Option<i32>,
    pub slot_name: Option<String>,
}

/// The mirror's slot as its primary sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotView {
    Missing,
    Active,
    Inactive,
    /// Invalidated (wal_status lost): the WAL it held is gone (max_slot_wal_keep_size).
    Lost,
}

impl HealthIssue {
    /// The stable code, as in JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConfigFileError { .. } => "config_file_error",
            Self::HbaFileError { .. } => "hba_file_error",
            Self::UnknownSetting { .. } => "unknown_setting",
            Self::InvalidSettingValue { .. } => "invalid_setting_value",
            Self::SettingOverridden { .. } => "setting_overridden",
            Self::ConfigurationRejected { .. } => "configuration_rejected",
            Self::MirrorNotStreaming { .. } => "mirror_not_streaming",
            Self::ReplayPaused => "replay_paused",
            Self::ApplicationFileMissing { .. } => "application_file_missing",
        }
    }

    /// Applying would write, reload or restart into something PostgreSQL
    /// refuses or that the file did not ask for: apply refuses.
    pub fn blocks_apply(&self) -> bool {
        !matches!(
            self,
            Self::MirrorNotStreaming { .. }
                | Self::ReplayPaused
                | Self::ApplicationFileMissing { .. }
        )
    }
}
