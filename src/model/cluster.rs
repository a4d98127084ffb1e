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
}

impl Cluster {
    pub fn node(&self, name: &NodeName) -> Option<&Node> {
        self.nodes.iter().find(|node| &node.name == name)
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
