//! What each node should hold, computed from the `Cluster` alone: its role,
//! the whole of mirrorset.conf, the pg_hba block, the passfile, and on the
//! primary the role and slots. Pure.

mod conf;
mod conninfo;
mod hba;
mod properties;

use std::collections::BTreeMap;

use serde::Serialize;

pub use conf::{
    INCLUDE_LINE, MANAGED_SETTINGS, MIRRORSET_CONF, include_line_present, with_include_line,
};
pub use conninfo::conninfo;
pub use hba::{BrokenBlock, HbaBlock, block_contents, hba_block_lines, locate_block, with_block};
pub use properties::edit_properties;

use crate::model::{
    Cluster, Node, NodeName, NodeState, ReplicationTransport, Secret, SettingValue, SlotName,
    TlsMaterial, wal_sender_budget,
};

/// Where mirrorset puts a node's TLS files: in its state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

pub fn tls_paths(node: &Node) -> TlsPaths {
    let dir = &node.postgres.state_dir;
    TlsPaths {
        ca: format!("{dir}/mirrorset-ca.crt"),
        cert: format!("{dir}/mirrorset-server.crt"),
        key: format!("{dir}/mirrorset-server.key"),
    }
}

/// The files mirrorset reads on a node to compare with what it wants, by
/// what they are; gather reads each (pg_hba.conf again where a running
/// server names another hba_file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPaths {
    pub postgresql_conf: String,
    pub mirrorset_conf: String,
    pub auto_conf: String,
    pub hba: String,
    pub tls: TlsPaths,
    /// The `[[files]]` of the application around the database.
    pub role_files: Vec<String>,
}

impl ReadPaths {
    pub fn all(&self) -> Vec<&str> {
        [
            &self.postgresql_conf,
            &self.mirrorset_conf,
            &self.auto_conf,
            &self.hba,
            &self.tls.ca,
            &self.tls.cert,
        ]
        .into_iter()
        .chain(&self.role_files)
        .map(String::as_str)
        .collect()
    }
}

pub fn read_paths(node: &Node) -> ReadPaths {
    let layout = &node.postgres;
    ReadPaths {
        postgresql_conf: format!("{}/postgresql.conf", layout.config_dir),
        mirrorset_conf: format!("{}/{MIRRORSET_CONF}", layout.config_dir),
        auto_conf: format!("{}/postgresql.auto.conf", layout.data_dir),
        hba: format!("{}/pg_hba.conf", layout.config_dir),
        tls: tls_paths(node),
        role_files: node
            .role_files
            .iter()
            .map(|file| file.path.clone())
            .collect(),
    }
}

/// The TLS files a node should hold, with their content.
#[derive(Debug, Clone)]
pub struct DesiredTls {
    pub paths: TlsPaths,
    pub ca: String,
    pub cert: String,
    pub key: Secret<String>,
}

/// How `node` connects to `upstream` as the replication role (streaming,
/// pg_basebackup, pg_rewind with `database`): its passfile, and with TLS
/// the CA it verifies the server against.
pub fn replication_conninfo(
    cluster: &Cluster,
    node: &Node,
    upstream: &Node,
    database: Option<&str>,
) -> String {
    let port = upstream.postgres.port.to_string();
    let paths = tls_paths(node);
    let mut pairs = vec![
        ("host", upstream.host.as_str()),
        ("port", port.as_str()),
        ("user", cluster.replication.user.as_str()),
    ];
    if let Some(database) = database {
        pairs.push(("dbname", database));
    }
    pairs.push(("passfile", &node.postgres.passfile));
    match database {
        Some(_) => pairs.push(("application_name", "mirrorset-rewind")),
        None => pairs.push(("application_name", node.name.as_str())),
    }
    match cluster.replication.transport {
        ReplicationTransport::Plain => pairs.push(("sslmode", "prefer")),
        ReplicationTransport::Tls => {
            pairs.push(("sslmode", "verify-full"));
            pairs.push(("sslrootcert", &paths.ca));
        }
    }
    conninfo(&pairs)
}

/// The pg_rewind functions the replication role must be allowed to execute.
pub const REWIND_FUNCTIONS: [&str; 4] = [
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredRole {
    Primary,
    Mirror,
    /// An independent server: detached from the cluster.
    Standalone,
    /// Left alone entirely.
    Absent,
}

/// The desired state of one node.
#[derive(Debug, Clone)]
pub struct DesiredNode {
    pub name: NodeName,
    pub role: DesiredRole,
    /// Every setting mirrorset.conf sets, in file order.
    pub settings: BTreeMap<String, SettingValue>,
    /// The whole of mirrorset.conf.
    pub mirrorset_conf: String,
    /// The lines between the pg_hba markers.
    pub hba_lines: Vec<String>,
    pub standby_signal: bool,
    /// The libpq passfile: one line for the replication role.
    pub passfile: Secret<String>,
    /// The CA, certificate and key, when the cluster file names them.
    pub tls: Option<DesiredTls>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub primary: NodeName,
    pub nodes: Vec<DesiredNode>,
    /// Slots the primary must have, one per other member, with their node.
    pub slots: Vec<(SlotName, NodeName)>,
    /// Slots to drop: those of absent and standalone nodes.
    pub stale_slots: Vec<(SlotName, NodeName)>,
}

impl Desired {
    pub fn node(&self, name: &NodeName) -> Option<&DesiredNode> {
        self.nodes.iter().find(|node| &node.name == name)
    }
}

pub fn desired(
    cluster: &Cluster,
    passphrase: &Secret<String>,
    tls: Option<&TlsMaterial>,
) -> Desired {
    let members: Vec<&Node> = cluster.members().collect();
    let primary = cluster
        .node(&cluster.primary)
        .expect("validation checked the primary exists");
    let nodes = cluster
        .nodes
        .iter()
        .map(|node| desired_node(cluster, node, primary, &members, passphrase, tls))
        .collect();
    let slot_of = |state: fn(NodeState) -> bool| {
        cluster
            .nodes
            .iter()
            .filter(|node| state(node.state) && node.name != cluster.primary)
            .map(|node| (node.slot.clone(), node.name.clone()))
            .collect::<Vec<_>>()
    };
    Desired {
        primary: cluster.primary.clone(),
        nodes,
        slots: slot_of(|state| state == NodeState::Member),
        stale_slots: slot_of(|state| state != NodeState::Member),
    }
}

fn desired_node(
    cluster: &Cluster,
    node: &Node,
    primary: &Node,
    members: &[&Node],
    passphrase: &Secret<String>,
    tls: Option<&TlsMaterial>,
) -> DesiredNode {
    let role = match node.state {
        NodeState::Member if node.name == cluster.primary => DesiredRole::Primary,
        NodeState::Member => DesiredRole::Mirror,
        NodeState::Standalone => DesiredRole::Standalone,
        NodeState::Absent => DesiredRole::Absent,
    };
    let replication = &cluster.replication;
    let budget = wal_sender_budget(members.len());
    let mut settings = BTreeMap::new();
    let mut set = |name: &str, value: SettingValue| {
        settings.insert(name.to_owned(), value);
    };
    set(
        "listen_addresses",
        SettingValue::String(format!("localhost,{}", node.host)),
    );
    // The port the file names, written where the node reads it: a clone of
    // a primary whose postgresql.conf lives in its data directory would
    // otherwise bring the primary's port to a node on the same machine.
    set("port", SettingValue::Integer(i64::from(node.postgres.port)));
    // Likewise the socket folder, where the file names one: mirrorset
    // reaches the server there, and a clone would bring the primary's.
    if node.postgres.socket_dir_named {
        set(
            "unix_socket_directories",
            SettingValue::String(node.postgres.socket_dir.clone()),
        );
    }
    set("wal_level", SettingValue::String("replica".into()));
    set("max_wal_senders", SettingValue::Integer(budget));
    set("max_replication_slots", SettingValue::Integer(budget));
    set("wal_log_hints", SettingValue::Bool(true));
    set("hot_standby", SettingValue::Bool(true));
    set(
        "max_slot_wal_keep_size",
        SettingValue::String(replication.max_slot_wal_keep_size.to_string()),
    );
    for (name, value) in &node.settings {
        set(name, value.clone());
    }
    let tls = tls.and_then(|material| {
        let files = material.nodes.get(&node.name)?;
        Some(DesiredTls {
            paths: tls_paths(node),
            ca: material.ca.clone(),
            cert: files.cert.clone(),
            key: files.key.clone(),
        })
    });
    if let (ReplicationTransport::Tls, Some(tls)) = (replication.transport, &tls) {
        set("ssl", SettingValue::Bool(true));
        set("ssl_ca_file", SettingValue::String(tls.paths.ca.clone()));
        set(
            "ssl_cert_file",
            SettingValue::String(tls.paths.cert.clone()),
        );
        set("ssl_key_file", SettingValue::String(tls.paths.key.clone()));
    }
    if role == DesiredRole::Mirror {
        let info = replication_conninfo(cluster, node, primary, None);
        set("primary_conninfo", SettingValue::String(info));
        set(
            "primary_slot_name",
            SettingValue::String(node.slot.to_string()),
        );
    }
    // On every node, not only mirrors: it is the default anyway, and it
    // needs a restart, so a promoted mirror must not lose it.
    set(
        "recovery_target_timeline",
        SettingValue::String("latest".into()),
    );
    let others: Vec<&Node> = members
        .iter()
        .copied()
        .filter(|m| m.name != node.name)
        .collect();
    DesiredNode {
        name: node.name.clone(),
        role,
        mirrorset_conf: conf::render(cluster, node, role, &settings),
        settings,
        // A standalone server replicates to no one.
        hba_lines: if role == DesiredRole::Standalone {
            Vec::new()
        } else {
            hba_block_lines(cluster, &others)
        },
        standby_signal: role == DesiredRole::Mirror,
        passfile: Secret::new(format!(
            "*:*:*:{}:{}\n",
            replication.user,
            escape_passfile(passphrase.expose())
        )),
        tls,
    }
}

/// A passfile field: `:` and `\` are escaped with `\`.
fn escape_passfile(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}
