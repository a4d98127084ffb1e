//! A validated cluster file: the single input of the pure core. Pure data.

use std::path::PathBuf;

use serde::Serialize;

use super::{ClusterName, Node, NodeName, NodeState, Replication, Settings};

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// The file it was read from, as the operator named it.
    pub file: PathBuf,
    pub name: ClusterName,
    pub primary: NodeName,
    pub replication: Replication,
    /// The cluster-wide `[settings]`; each node's `settings` already includes them.
    pub settings: Settings,
    /// In file order.
    pub nodes: Vec<Node>,
    pub hooks: super::Hooks,
}

impl Cluster {
    pub fn node(&self, name: &NodeName) -> Option<&Node> {
        self.nodes.iter().find(|node| &node.name == name)
    }

    /// The node a WAL receiver names as its sender: the host, and the port when known
    /// (nodes may share a machine), or the address itself when no node has it.
    pub fn name_of_sender(&self, host: &str, port: Option<i32>) -> String {
        self.nodes
            .iter()
            .find(|node| {
                node.host == host && port.is_none_or(|port| i32::from(node.postgres.port) == port)
            })
            .map(|node| node.name.to_string())
            .unwrap_or_else(|| host.to_owned())
    }

    pub fn members(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(|node| node.state == NodeState::Member)
    }

    /// Members other than the primary: the read-only servers.
    pub fn mirrors(&self) -> impl Iterator<Item = &Node> {
        self.members().filter(|node| node.name != self.primary)
    }
}
