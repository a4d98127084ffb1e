//! Every rule a cluster file must follow, each with a stable code that
//! diagnostics carry and documentation can name. Pure.

/// One rule of the cluster file. The codes are a user contract: scripts and
/// docs may refer to them, so a code is never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The file cannot be read.
    Unreadable,
    /// The file is not valid TOML (this includes a table or key defined twice).
    TomlSyntax,
    /// A key mirrorset does not know (often a typo; the closest known key is suggested).
    UnknownKey,
    /// A value of the wrong TOML type.
    WrongType,
    /// A required key or table is missing.
    MissingKey,
    /// A cluster name outside `[a-z0-9_-]{1,63}`.
    InvalidClusterName,
    /// A node name outside `[a-z0-9_-]{1,63}`.
    InvalidNodeName,
    /// A replication user outside `[a-z0-9_]{1,63}`, starting with a digit or `pg_`, or `postgres`.
    InvalidUserName,
    /// A slot name outside `[a-z0-9_]{1,63}`.
    InvalidSlotName,
    /// `[nodes]` is missing or empty.
    NoNodes,
    /// `primary` names no node of the file.
    UnknownPrimary,
    /// `primary` names a node whose state is not `member`.
    PrimaryNotMember,
    /// Two nodes share a `host` and PostgreSQL port.
    DuplicateHost,
    /// Two nodes share a slot name (explicit or derived from the node name).
    DuplicateSlot,
    /// `state` other than `member`, `standalone`, `absent`.
    InvalidState,
    /// The passphrase is written in the file instead of referenced.
    LiteralPassphrase,
    /// The passphrase reference is not exactly one of `env`, `file`, `command`, or is empty.
    InvalidPassphraseSource,
    /// `transport` other than `plain` or `tls`.
    InvalidTransport,
    /// `transport` set on a node or in `[defaults]`: it is one value for the whole cluster.
    TransportNotClusterWide,
    /// `transport = "tls"` without the CA or a node's certificate and key.
    TlsMissing,
    /// A TLS file named in the file does not exist.
    TlsFileMissing,
    /// `expiry_warning_days` outside 0..=3650.
    InvalidExpiryWarning,
    /// A `[[files]]` entry mirrorset cannot write as asked (no role table, content and keys mixed, a key or value a properties file cannot carry, a path twice).
    InvalidRoleFile,
    /// A hook with no program, or an argument holding NUL.
    InvalidHook,
    /// A `[[sync]]` entry with a glob before the last component, a mode that is not octal, an owner that is not a user name, or a path twice.
    InvalidSync,
    /// A size without a valid PostgreSQL unit, or out of range.
    InvalidSize,
    /// A port outside 1..=65535.
    InvalidPort,
    /// A `connection_limit` that would lock mirrors out.
    InvalidConnectionLimit,
    /// A path on the node that is not absolute.
    RelativePath,
    /// Two nodes on one host share a data directory, a passfile or a state folder.
    SharedNodePath,
    /// A path on the node with a character a shell or a config line would not carry (`"`, `$`, backquote, backslash, a control character).
    UnsafePath,
    /// The passfile inside the data directory (pg_basebackup would copy it, a rewind would overwrite it).
    PassfileInDataDir,
    /// The state folder inside the data directory (pg_basebackup would copy the lock and the TLS key, a rewind would overwrite them).
    StateDirInDataDir,
    /// `service` is not `pg_ctl`, `pg_ctlcluster` (with a Debian cluster's config dir), `systemd:<unit>` or a table of commands.
    InvalidService,
    /// A `host` or `ssh_host` that is not an address or DNS name.
    InvalidHost,
    /// `access` other than `ssh` or `local`.
    InvalidAccess,
    /// A string that must not be empty is.
    EmptyValue,
    /// A settings key that is not a PostgreSQL setting name.
    InvalidSettingName,
    /// A setting that mirrorset writes itself.
    ManagedSetting,
    /// A setting value that would break replication, promotion or pg_rewind.
    UnsafeSetting,
    /// A setting value that is not a string, number or boolean, or has a bad unit.
    InvalidSettingValue,
}

impl Rule {
    /// Every rule, in the order the reference lists them.
    pub const ALL: [Rule; 41] = [
        Self::Unreadable,
        Self::TomlSyntax,
        Self::UnknownKey,
        Self::WrongType,
        Self::MissingKey,
        Self::InvalidClusterName,
        Self::InvalidNodeName,
        Self::InvalidUserName,
        Self::InvalidSlotName,
        Self::NoNodes,
        Self::UnknownPrimary,
        Self::PrimaryNotMember,
        Self::DuplicateHost,
        Self::DuplicateSlot,
        Self::InvalidState,
        Self::LiteralPassphrase,
        Self::InvalidPassphraseSource,
        Self::InvalidTransport,
        Self::TransportNotClusterWide,
        Self::TlsMissing,
        Self::TlsFileMissing,
        Self::InvalidExpiryWarning,
        Self::InvalidRoleFile,
        Self::InvalidHook,
        Self::InvalidSync,
        Self::InvalidSize,
        Self::InvalidPort,
        Self::InvalidConnectionLimit,
        Self::RelativePath,
        Self::SharedNodePath,
        Self::UnsafePath,
        Self::PassfileInDataDir,
        Self::StateDirInDataDir,
        Self::InvalidService,
        Self::InvalidHost,
        Self::InvalidAccess,
        Self::EmptyValue,
        Self::InvalidSettingName,
        Self::ManagedSetting,
        Self::UnsafeSetting,
        Self::InvalidSettingValue,
    ];

    /// What the rule asks of the file, for the reference.
    pub fn description(self) -> &'static str {
        match self {
            Self::Unreadable => "The file cannot be read.",
            Self::TomlSyntax => {
                "The file is not valid TOML (this includes a table or key defined twice)."
            }
            Self::UnknownKey => {
                "A key mirrorset does not know (often a typo; the closest known key is suggested)."
            }
            Self::WrongType => "A value of the wrong TOML type.",
            Self::MissingKey => "A required key or table is missing.",
            Self::InvalidClusterName => "A cluster name outside `[a-z0-9_-]{1,63}`.",
            Self::InvalidNodeName => "A node name outside `[a-z0-9_-]{1,63}`.",
            Self::InvalidUserName => {
                "A replication user outside `[a-z0-9_]{1,63}`, starting with a digit or `pg_`, or `postgres`."
            }
            Self::InvalidSlotName => "A slot name outside `[a-z0-9_]{1,63}`.",
            Self::NoNodes => "`[nodes]` is missing or empty.",
            Self::UnknownPrimary => "`primary` names no node of the file.",
            Self::PrimaryNotMember => "`primary` names a node whose state is not `member`.",
            Self::DuplicateHost => "Two nodes share a `host` and PostgreSQL port.",
            Self::DuplicateSlot => {
                "Two nodes share a slot name (explicit or derived from the node name)."
            }
            Self::InvalidState => "`state` other than `member`, `standalone`, `absent`.",
            Self::LiteralPassphrase => {
                "The passphrase is written in the file instead of referenced."
            }
            Self::InvalidPassphraseSource => {
                "The passphrase reference is not exactly one of `env`, `file`, `command`, or is empty."
            }
            Self::InvalidTransport => "`transport` other than `plain` or `tls`.",
            Self::TransportNotClusterWide => {
                "`transport` set on a node or in `[defaults]`: it is one value for the whole cluster."
            }
            Self::TlsMissing => {
                "`transport = \"tls\"` without the CA or a node's certificate and key."
            }
            Self::TlsFileMissing => "A TLS file named in the file does not exist.",
            Self::InvalidExpiryWarning => "`expiry_warning_days` outside 0..=3650.",
            Self::InvalidHook => "A hook with no program, or an argument holding NUL.",
            Self::InvalidSync => {
                "A `[[sync]]` entry with a glob before the last component, a mode that is not octal, an owner that is not a user name, or a path twice."
            }
            Self::InvalidRoleFile => {
                "A `[[files]]` entry mirrorset cannot write as asked (no role table, content and keys mixed, a key or value a properties file cannot carry, a path twice)."
            }
            Self::InvalidSize => "A size without a valid PostgreSQL unit, or out of range.",
            Self::InvalidPort => "A port outside 1..=65535.",
            Self::InvalidConnectionLimit => "A `connection_limit` that would lock mirrors out.",
            Self::RelativePath => "A path on the node that is not absolute.",
            Self::SharedNodePath => {
                "Two nodes on one host share a data directory, a passfile or a state folder."
            }
            Self::UnsafePath => {
                "A path on the node with a character a shell or a config line would not carry (`\"`, `$`, backquote, backslash, a control character)."
            }
            Self::PassfileInDataDir => {
                "The passfile inside the data directory (pg_basebackup would copy it, a rewind would overwrite it)."
            }
            Self::StateDirInDataDir => {
                "The state folder inside the data directory (pg_basebackup would copy the lock and the TLS key, a rewind would overwrite them)."
            }
            Self::InvalidService => {
                "`service` is not `pg_ctl`, `pg_ctlcluster` (with a Debian cluster's config dir), `systemd:<unit>` or a table of commands."
            }
            Self::InvalidHost => "A `host` or `ssh_host` that is not an address or DNS name.",
            Self::InvalidAccess => "`access` other than `ssh` or `local`.",
            Self::EmptyValue => "A string that must not be empty is.",
            Self::InvalidSettingName => "A settings key that is not a PostgreSQL setting name.",
            Self::ManagedSetting => "A setting that mirrorset writes itself.",
            Self::UnsafeSetting => {
                "A setting value that would break replication, promotion or pg_rewind."
            }
            Self::InvalidSettingValue => {
                "A setting value that is not a string, number or boolean, or has a bad unit."
            }
        }
    }

    /// The stable code shown with every diagnostic, e.g. `config::unknown_key`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreadable => "config::unreadable",
            Self::TomlSyntax => "config::toml_syntax",
            Self::UnknownKey => "config::unknown_key",
            Self::WrongType => "config::wrong_type",
            Self::MissingKey => "config::missing_key",
            Self::InvalidClusterName => "config::invalid_cluster_name",
            Self::InvalidNodeName => "config::invalid_node_name",
            Self::InvalidUserName => "config::invalid_user_name",
            Self::InvalidSlotName => "config::invalid_slot_name",
            Self::NoNodes => "config::no_nodes",
            Self::UnknownPrimary => "config::unknown_primary",
            Self::PrimaryNotMember => "config::primary_not_member",
            Self::DuplicateHost => "config::duplicate_host",
            Self::DuplicateSlot => "config::duplicate_slot",
            Self::InvalidState => "config::invalid_state",
            Self::LiteralPassphrase => "config::literal_passphrase",
            Self::InvalidPassphraseSource => "config::invalid_passphrase_source",
            Self::InvalidTransport => "config::invalid_transport",
            Self::TransportNotClusterWide => "config::transport_not_cluster_wide",
            Self::TlsMissing => "config::tls_missing",
            Self::TlsFileMissing => "config::tls_file_missing",
            Self::InvalidExpiryWarning => "config::invalid_expiry_warning",
            Self::InvalidRoleFile => "config::invalid_role_file",
            Self::InvalidHook => "config::invalid_hook",
            Self::InvalidSync => "config::invalid_sync",
            Self::InvalidSize => "config::invalid_size",
            Self::InvalidPort => "config::invalid_port",
            Self::InvalidConnectionLimit => "config::invalid_connection_limit",
            Self::RelativePath => "config::relative_path",
            Self::SharedNodePath => "config::shared_node_path",
            Self::UnsafePath => "config::unsafe_path",
            Self::PassfileInDataDir => "config::passfile_in_data_dir",
            Self::StateDirInDataDir => "config::state_dir_in_data_dir",
            Self::InvalidService => "config::invalid_service",
            Self::InvalidHost => "config::invalid_host",
            Self::InvalidAccess => "config::invalid_access",
            Self::EmptyValue => "config::empty_value",
            Self::InvalidSettingName => "config::invalid_setting_name",
            Self::ManagedSetting => "config::managed_setting",
            Self::UnsafeSetting => "config::unsafe_setting",
            Self::InvalidSettingValue => "config::invalid_setting_value",
        }
    }
}
