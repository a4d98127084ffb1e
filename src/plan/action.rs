//! The plan's data: what `--json` prints, `--out` saves and `apply`
//! executes. Versioned by `format_version`; it never holds a secret (the
//! passfile's content and the role's password are re-derived at apply).
//! Pure data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// Everything mirrorset would do to one cluster, in order.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: u32,
    pub cluster: String,
    /// The cluster file the plan was made from.
    pub file: String,
    /// Every node, with its role now and the role the file wants.
    pub nodes: Vec<NodeSummary>,
    /// In order: each runs after those before it, but where `schedule` says otherwise.
    pub actions: Vec<Action>,
    /// How apply runs the actions: stages in order, a stage's lanes at once.
    pub schedule: Vec<super::schedule::Stage>,
    /// Worth knowing, not changed by mirrorset (orphan slots, shadowing pg_hba rules, …).
    pub warnings: Vec<Finding>,
    /// Why the plan cannot be applied as is; any refusal makes `plan` exit 1.
    pub refusals: Vec<Finding>,
    /// What stays unhealthy after this plan, by stable code; any makes
    /// `plan` exit 1, and those that `blocks_apply` make apply refuse.
    #[serde(default)]
    pub health: Vec<super::HealthFinding>,
    /// When the plan moves the primary to another node: how, and when writes stop.
    #[serde(default)]
    pub promotion: Option<Promotion>,
    pub summary: Summary,
}

/// A change of primary: the steps are ordinary actions; this says which
/// of them bound the time the cluster takes no writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Promotion {
    pub kind: PromotionKind,
    /// The primary until now, when known.
    pub from: Option<String>,
    pub to: String,
    /// The step (1-based) from which no server accepts writes: the old
    /// primary's stop, or the promotion itself when the old one is gone.
    pub writes_stop_at: usize,
    /// The step after which the new primary accepts writes.
    pub writes_resume_after: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotionKind {
    /// The old primary is stopped cleanly first and everything it wrote is
    /// received by the new one: nothing committed is lost.
    Switchover,
    /// The old primary is unreachable or crashed: what it wrote and the new
    /// primary did not receive is lost.
    Failover,
}

impl Plan {
    /// Nothing is to be done and nothing is wrong: the cluster is what the file says.
    pub fn is_green(&self) -> bool {
        self.actions.is_empty() && self.refusals.is_empty() && self.health.is_empty()
    }

    /// Nothing refused, and no finding that makes applying unsafe.
    pub fn may_apply(&self) -> bool {
        self.refusals.is_empty() && !self.health.iter().any(|f| f.issue.blocks_apply())
    }
}

/// Options that change what a plan may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanSettings {
    /// Promote a mirror although the old primary cannot be stopped first.
    pub allow_failover: bool,
    /// Apply has just started the primary (a `Replan` step): its mirrors
    /// are reconnecting, so apply waits for them instead of calling them unhealthy.
    pub primary_just_started: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NodeSummary {
    pub name: String,
    pub host: String,
    pub actual: RoleNow,
    pub desired: RoleWanted,
}

/// What a node is now, as its facts show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum RoleNow {
    /// Not read: the plan stopped before it (a refusal elsewhere).
    NotContacted,
    Unreachable,
    /// Running and writable.
    Primary,
    /// Running and writable, detached by mirrorset as a standalone server.
    Standalone,
    /// Running in recovery; `upstream` is the node it streams from, when it does.
    Standby {
        upstream: Option<String>,
    },
    /// Initialized, not running.
    Stopped,
    /// The data directory holds something that is not a PostgreSQL cluster.
    NotPostgresql,
    /// The PostgreSQL OS user cannot look into the data directory.
    DataDirUnreadable,
    /// An earlier clone into the data directory did not finish.
    CloneInterrupted,
    /// No data directory, or an empty one.
    Empty,
}

/// What the cluster file wants a node to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum RoleWanted {
    Primary,
    Mirror { of: String },
    Standalone,
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// What kind of warning or refusal, for scripts: stable across versions.
    pub code: FindingCode,
    pub node: Option<String>,
    /// The same in words, for people; its wording may change.
    pub message: String,
}

/// The kinds of warnings and refusals, by stable code (`code` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    // Refusals: the plan cannot be applied as it is.
    /// A node could not be reached; its actions are not planned.
    NodeUnreachable,
    /// Two nodes run as writable primaries.
    SplitBrain,
    /// The members run different PostgreSQL major versions.
    VersionMismatch,
    /// A data directory the PostgreSQL user cannot look into.
    DataDirUnreadable,
    /// The primary has no data while a mirror has.
    PrimaryEmptyMirrorHasData,
    /// The primary has no data directory at all.
    PrimaryWithoutData,
    /// A member's data directory is another cluster's, and it runs.
    AnotherClusterRunning,
    /// A member runs writable while another is named primary, and mirrorset did not detach it.
    UnexpectedPrimary,
    /// pg_hba.conf has a mirrorset BEGIN marker without its END.
    HbaBlockUnbounded,
    /// The node to promote is a stopped standby.
    TargetStoppedStandby,
    /// The node to promote lacks WAL the stopped primary wrote.
    TargetBehindStoppedPrimary,
    /// A failover loses writes; it takes --allow-failover.
    FailoverNotAllowed,
    /// The node to promote does not stream from the primary.
    TargetNotStreaming,
    /// Replay is paused on the node to promote.
    TargetReplayPaused,
    /// The node to promote has not replayed what the primary wrote.
    TargetNotCaughtUp,
    /// The old primary could not be rewound after a switchover.
    OldPrimaryNotRewindable,
    /// The node to promote lacks a `[[sync]]` file of the primary's.
    TargetLacksSyncedFile,
    /// A `[[sync]]` copy for another owner needs a root login.
    SyncOwnerNeedsRoot,
    // Warnings: worth knowing, not changed by mirrorset.
    /// `--target` planned only some nodes.
    PartialTarget,
    /// A certificate expires within `expiry_warning_days`.
    CertificateExpiring,
    /// The server's main configuration file does not exist.
    MainConfigMissing,
    /// pg_hba.conf does not exist.
    HbaFileMissing,
    /// A pg_hba.conf line before mirrorset's block may decide replication first.
    HbaRuleBeforeBlock,
    /// A mirror lags behind its primary.
    MirrorLagging,
    /// The record of what mirrorset made cannot be read.
    OwnedRecordUnreadable,
    /// The record of what mirrorset made is another node's.
    OwnedRecordOfAnotherNode,
    /// An earlier mirrorset's files are still beside the data directory.
    LegacyFilesLeft,
    /// The record names a path mirrorset does not write; it is not removed.
    OwnedPathNotManaged,
    /// A slot the cluster file does not name; never dropped.
    UnnamedSlot,
    /// A failover allowed with --allow-failover: writes may be lost.
    Failover,
    /// Another mirror has replayed further than the node to promote.
    MirrorAheadOfTarget,
    /// A failover whose `[[sync]]` files could not be compared.
    FailoverWithoutSyncCheck,
    /// A standalone node has no data directory to detach.
    NothingToDetach,
    /// A file sets a setting that mirrorset.conf overrides.
    SettingShadowed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
    pub restarts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// `+`: something new.
    Add,
    /// `~`: something existing, changed.
    Change,
    /// `-`: something removed.
    Remove,
    /// `-/+`: moved aside and made anew (a data directory is never deleted).
    Replace,
    /// A step that changes nothing by itself (reload, wait).
    Step,
}

impl Change {
    pub fn marker(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Change => "~",
            Self::Remove => "-",
            Self::Replace => "-/+",
            Self::Step => ">",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    pub node: crate::model::NodeName,
    pub change: Change,
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Why, by stable code: which rule of the cluster file asks for it.
    pub cause: Cause,
    /// Why, in words: "wal_log_hints changed (postmaster context)"; its wording may change.
    pub reason: String,
    /// What must still hold when the action runs, or apply refuses.
    pub precondition: Precondition,
}

/// Why an action is planned, by stable code (`cause` in JSON): which part
/// of the desired state asks for it. `change` says whether it adds,
/// changes or removes, `kind` what it does, `reason` the same in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// mirrorset.conf, or the line of postgresql.conf that includes it.
    ConfigFile,
    /// The mirrorset block of pg_hba.conf.
    HbaBlock,
    /// A `[[files]]` file, which follows the node's role.
    RoleFile,
    /// The node's TLS certificate or its CA's.
    TlsFile,
    /// A 0600 file holding a secret (passfile, TLS key): missing, stale or readable by others.
    SecretFile,
    /// ALTER SYSTEM sets what mirrorset.conf sets, and would win.
    OverridingSetting,
    /// The replication role: missing, its password or attributes.
    ReplicationRole,
    /// The grants pg_rewind needs.
    RewindGrant,
    /// A member's slot on the primary.
    MemberSlot,
    /// A slot of a node that is no longer a member.
    SlotOfNonMember,
    /// A slot on a mirror, which would hold WAL there forever.
    SlotOnMirror,
    /// What mirrorset made and the cluster file no longer names.
    NoLongerNamed,
    /// The record of what mirrorset made on the node.
    OwnershipRecord,
    /// A node that is not running yet must be read before the rest is planned.
    Replan,
    /// The server is not running.
    ServerStopped,
    /// A setting that takes a restart changed.
    RestartSetting,
    /// Configuration files changed.
    Reload,
    /// A new mirror's data directory is made from the primary.
    NewMirror,
    /// A data directory that cannot stream is moved aside and made again.
    DataDirReplaced,
    /// A former primary is made a copy of the primary with pg_rewind.
    Rewind,
    /// A mirror is started in recovery.
    StartAsMirror,
    /// standby.signal is missing: the next start would make a second primary.
    StandbySignalMissing,
    /// apply waits until a mirror streams.
    WaitStreaming,
    /// A step of a switchover.
    Switchover,
    /// A step of a failover.
    Failover,
    /// The old primary is fenced before a failover's promotion.
    Fence,
    /// A `[hooks]` program around a role change.
    RoleChangeHook,
    /// A node is detached as a standalone server.
    StandaloneDetach,
    /// A `[[sync]]` file is copied from the primary.
    SyncCopy,
    /// A `[[sync]]` file the primary no longer holds is removed.
    SyncDelete,
}

/// Which secret a file holds: a reference the plan can carry, resolved
/// only at apply (the plan never holds a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// The node's libpq passfile, holding the replication passphrase.
    Passfile,
    /// The private key of the node's TLS certificate.
    TlsKey,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// Write a whole file atomically (temp, fsync, rename, backup).
    WriteFile {
        path: String,
        /// The mode a new file gets; with `enforce_mode` an existing one too.
        mode: u32,
        enforce_mode: bool,
        /// Content now; None when the file does not exist or holds a secret.
        before: Option<String>,
        /// Content after; None when it holds a secret.
        after: Option<String>,
        /// The secret the file holds, named, never carried: apply derives
        /// its content again from the cluster file.
        secret: Option<SecretRef>,
    },
    /// ALTER SYSTEM RESET of a value that would override mirrorset.conf.
    ResetSetting {
        setting: String,
    },
    /// Create or alter the replication role; its password is never in the plan.
    EnsureRole {
        user: String,
        create: bool,
        connection_limit: i64,
        set_password: bool,
    },
    /// GRANT EXECUTE on one pg_rewind function.
    GrantRewind {
        user: String,
        function: String,
    },
    CreateSlot {
        slot: String,
        for_node: String,
    },
    /// Drop a slot, terminating its walsender first.
    DropSlot {
        slot: String,
        for_node: String,
    },
    /// A role mirrorset managed that the cluster file no longer names: its
    /// sessions ended and its pg_rewind grants revoked, then dropped, or
    /// made NOLOGIN without a password where it owns objects.
    RetireRole {
        user: String,
        /// Objects it owns in any database when the plan was made.
        owned_objects: i64,
    },
    /// Remove a whole file mirrorset wrote that the cluster file no longer names.
    RemoveFile {
        path: String,
        /// "passfile", "TLS key", …
        what: String,
    },
    /// A `[hooks]` program on the node, as its SSH user, with the
    /// MIRRORSET_* environment; a failure stops the apply.
    RunHook {
        /// "before_role_change" or "after_role_change".
        hook: String,
        argv: Vec<String>,
        old_role: String,
        new_role: String,
    },
    /// `[hooks] fence` on the operator's machine before a failover's
    /// promotion of this node; a failure refuses the promotion.
    Fence {
        argv: Vec<String>,
        /// The old primary, to be fenced.
        old_node: String,
        old_host: String,
    },
    /// Copy a `[[sync]]` file from the primary to this node, in chunks
    /// through mirrorset's sessions, checked against `sha256`, then
    /// renamed into place. Its content is never in the plan.
    SyncFile {
        from_node: String,
        from_path: String,
        path: String,
        sha256: String,
        size: u64,
        mode: u32,
        /// The OS user the copy belongs to.
        owner: String,
        sensitive: bool,
    },
    /// pg_basebackup from the primary with the node's slot.
    Clone {
        from_node: String,
        from_host: String,
        from_port: u16,
        slot: String,
        data_dir: String,
        /// The data directory holds something else: move it aside first.
        move_aside: bool,
    },
    WriteStandbySignal {
        path: String,
    },
    Reload,
    Restart {
        settings: Vec<String>,
    },
    Start,
    /// A fast shutdown: sessions are ended, a shutdown checkpoint written.
    Stop,
    /// Wait until this standby has received everything `from_node` wrote,
    /// up to and including its shutdown checkpoint.
    WaitReceived {
        from_node: String,
    },
    /// pg_promote(): the standby becomes a writable primary on a new timeline.
    Promote,
    /// pg_rewind against the new primary, as the PostgreSQL user: the
    /// writes this node made after the fork are replaced by the source's.
    Rewind {
        from_node: String,
        from_host: String,
        from_port: u16,
        data_dir: String,
    },
    WaitStreaming {
        upstream: String,
    },
    /// Facts that could only be read from a running server were unknown
    /// when the plan was made: apply reads every node again here and
    /// plans (and shows) the rest.
    Replan,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Precondition {
    None,
    /// The file still has this SHA-256 (None: it still does not exist).
    FileUnchanged {
        path: String,
        sha256: Option<String>,
    },
    /// The data directory is still empty or missing.
    DataDirEmpty,
    /// The data directory still holds this cluster.
    SystemIdentifier {
        system_identifier: String,
    },
    /// The slot still does not exist.
    SlotMissing {
        slot: String,
    },
    /// That node is cleanly shut down: never two writable primaries.
    NodeStopped {
        node: String,
    },
}

impl ActionKind {
    /// The SQL an action runs, as shown to people: the password as (sensitive).
    pub fn sql_preview(&self) -> Option<String> {
        use crate::model::quote_identifier as q;
        Some(match self {
            Self::ResetSetting { setting } => format!("ALTER SYSTEM RESET {setting}"),
            Self::EnsureRole {
                user,
                create,
                connection_limit,
                set_password,
            } => format!(
                "{} ROLE {} LOGIN REPLICATION NOSUPERUSER CONNECTION LIMIT {connection_limit}{}",
                if *create { "CREATE" } else { "ALTER" },
                q(user),
                if *set_password {
                    " PASSWORD (sensitive)"
                } else {
                    ""
                }
            ),
            Self::GrantRewind { user, function } => {
                format!("GRANT EXECUTE ON FUNCTION {function} TO {}", q(user))
            }
            Self::CreateSlot { slot, .. } => {
                format!("SELECT pg_create_physical_replication_slot('{slot}', true)")
            }
            Self::DropSlot { slot, .. } => format!(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active; SELECT pg_drop_replication_slot('{slot}')"
            ),
            Self::RetireRole {
                user,
                owned_objects: 0,
            } => format!("DROP ROLE {}", q(user)),
            Self::RetireRole { user, .. } => {
                format!("ALTER ROLE {} NOLOGIN PASSWORD NULL", q(user))
            }
            Self::Promote => "SELECT pg_promote(wait => false)".to_owned(),
            _ => return None,
        })
    }
}
