//! A file of the application around the database whose content follows the
//! node's role (`[[files]]`): the whole file per role, or `key=value` lines
//! set and unset in a properties file. Pure data.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What one role wants of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleFileEdit {
    /// The whole file; created when missing.
    Content(String),
    /// Keys of a properties file; every other line kept. Never creates it.
    Properties {
        set: BTreeMap<String, String>,
        unset: BTreeSet<String>,
    },
}

/// One `[[files]]` entry as it applies to a node: `{node}` in its path
/// already replaced by the node's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleFile {
    pub path: String,
    pub primary: Option<RoleFileEdit>,
    pub mirror: Option<RoleFileEdit>,
    /// None: a standalone server takes the primary's.
    pub standalone: Option<RoleFileEdit>,
}

impl RoleFile {
    /// `path` with `{node}` replaced by `node`.
    pub fn for_node(&self, node: &str) -> Self {
        Self {
            path: self.path.replace("{node}", node),
            ..self.clone()
        }
    }
}
