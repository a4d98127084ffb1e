//! What each node should hold, computed from the `Cluster` alone: its role,
//! the whole of mirrorset.conf, the pg_hba block, the passfile, and on the
//! primary the role and slots. Pure.

mod conf;
mod conninfo;
mod hba;

use std::collections::BTreeMap;

use serde::Serialize;

pub use conf::{
    INCLUDE_LINE, MANAGED_SETTINGS, MIRRORSET_CONF, include_line_present, with_include_line,
};
pub use conninfo::conninfo;
pub use hba::{HbaBlock, block_contents, hba_block_lines, locate_block, with_block};

use crate::model::{
    Cluster, Node, NodeName, NodeState, ReplicationTransport, Secret, SettingValue, SlotName,
};

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

/// WAL senders and slots: one per mirror, two per clone in progress
/// (pg_basebackup -X stream), and room to spare; never below PostgreSQL's default.
pub fn wal_sender_budget(members: usize) -> i64 {
    (2 * members as i64 + 2).max(10)
}

pub fn desired(cluster: &Cluster, passphrase: &Secret<String>) -> Desired {
    let members: Vec<&Node> = cluster.members().collect();
    let primary = cluster
        .node(&cluster.primary)
        .expect("validation checked the primary exists");
    let nodes = cluster
        .nodes
        .iter()
        .map(|node| desired_node(cluster, node, primary, &members, passphrase))
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
    if role == DesiredRole::Mirror {
        let info = conninfo(&[
            ("host", primary.host.as_str()),
            ("port", &primary.postgres.port.to_string()),
            ("user", replication.user.as_str()),
            ("passfile", &node.postgres.passfile),
            ("application_name", node.name.as_str()),
            (
                "sslmode",
                match replication.transport {
                    ReplicationTransport::Plain => "prefer",
                    ReplicationTransport::Tls => "verify-full",
                },
            ),
        ]);
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
    }
}

/// A passfile field: `:` and `\` are escaped with `\`.
fn escape_passfile(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}
