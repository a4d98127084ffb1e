//! `[[sync]]`: files the application keeps on the primary that every mirror
//! needs a copy of (an encryption key, package folders). Pure data.

use serde::Serialize;

/// One `[[sync]]` entry as it applies to a node: `{node}` in its path
/// already replaced by the node's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncEntry {
    /// A file, or a glob in its last component ("/opt/mss/packages/*.zip").
    pub path: String,
    /// The copies' mode; None: the primary's file's.
    pub mode: Option<u32>,
    /// The copies' owner; None: the primary's file's.
    pub owner: Option<String>,
    /// Remove a mirror's files under the glob that the primary lacks.
    pub delete: bool,
    /// A secret: no backup is kept of a replaced copy.
    pub sensitive: bool,
}

impl SyncEntry {
    pub fn for_node(&self, node: &str) -> Self {
        Self {
            path: self.path.replace("{node}", node),
            ..self.clone()
        }
    }

    /// The folder its files live in.
    pub fn folder(&self) -> &str {
        match self.path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((folder, _)) => folder,
            None => ".",
        }
    }

    /// Where a file called `name` goes on this node.
    pub fn path_of(&self, name: &str) -> String {
        if self.is_glob() {
            format!("{}/{name}", self.folder().trim_end_matches('/'))
        } else {
            self.path.clone()
        }
    }

    pub fn is_glob(&self) -> bool {
        self.path.contains(['*', '?', '['])
    }
}
