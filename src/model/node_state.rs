//! What the cluster file wants of a node: in the cluster, on its own, or gone. Pure.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Part of the cluster: the primary or a streaming mirror.
    Member,
    /// Detached and promoted to an independent server; its slot and pg_hba lines go elsewhere.
    Standalone,
    /// Removed from the cluster: its slot and pg_hba lines go; the node itself is not touched.
    Absent,
}

impl NodeState {
    pub const NAMES: [&'static str; 3] = ["member", "standalone", "absent"];
}

impl FromStr for NodeState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "member" => Ok(Self::Member),
            "standalone" => Ok(Self::Standalone),
            "absent" => Ok(Self::Absent),
            _ => Err(()),
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Member => "member",
            Self::Standalone => "standalone",
            Self::Absent => "absent",
        })
    }
}
