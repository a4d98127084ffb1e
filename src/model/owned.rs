//! What mirrorset made on one node, and so may remove once the cluster file
//! no longer names it: slots, roles and whole files. The record lives as
//! JSON in the node's state folder. Pure data, rendering and parsing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The record's file name in the node's state folder.
pub const OWNED_FILE: &str = "mirrorset-owned.json";

/// The record's format; a newer one is never rewritten by an older mirrorset.
pub const OWNED_FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    pub format: u32,
    /// The cluster and node the record was written for.
    pub cluster: String,
    pub node: String,
    /// Replication slots on this node, each with the node it serves.
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    /// Roles mirrorset manages (created, or adopted and given its password).
    #[serde(default)]
    pub roles: BTreeSet<String>,
    /// Whole files mirrorset wrote, each with what it is ("passfile", "TLS key", …).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl Owned {
    pub fn new(cluster: &str, node: &str) -> Self {
        Self {
            format: OWNED_FORMAT,
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            ..Self::default()
        }
    }

    /// The file's whole text: pretty, keys sorted, so its diff in a plan reads well.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a record serializes");
        text.push('\n');
        text
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let owned: Self = serde_json::from_str(text).map_err(|error| error.to_string())?;
        if owned.format > OWNED_FORMAT {
            return Err(format!(
                "format {} is newer than this mirrorset's {OWNED_FORMAT}",
                owned.format
            ));
        }
        Ok(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let mut owned = Owned::new("pam-prod", "db1");
        owned.slots.insert("db2".into(), "db2".into());
        owned.roles.insert("replicator".into());
        owned.files.insert(
            "/var/lib/postgresql/15/mirrorset-main/mirrorset.pgpass".into(),
            "passfile".into(),
        );
        assert_eq!(Owned::parse(&owned.render()), Ok(owned));
    }

    #[test]
    fn a_newer_or_broken_record_is_refused_not_guessed() {
        assert!(Owned::parse(r#"{"format": 2, "cluster": "c", "node": "n"}"#).is_err());
        assert!(Owned::parse("{\"format\": 1, \"clus").is_err());
    }
}
