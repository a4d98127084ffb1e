//! Refusals found before anything is planned: nodes that cannot be reached,
//! read or trusted, a second primary, a version mismatch. (Cluster,
//! Observed) -> refusals and warnings. Pure.

use super::action::FindingCode;
use super::compute::{Planner, unreadable};
use crate::facts::parse::major_version;
use crate::facts::{DataDir, NodeFacts, Reached};
use crate::model::{Node, NodeState};
use std::collections::BTreeSet;

impl Planner<'_> {
    /// Records every refusal; true when planning any action would be unsafe.
    pub(super) fn refusals_first(&mut self) -> bool {
        let cluster = self.cluster;
        let mut blocked = false;
        for node in cluster
            .nodes
            .iter()
            .filter(|node| node.state != NodeState::Absent)
        {
            if let Some(NodeFacts::No { reason }) = self.observed.nodes.get(&node.name) {
                let reason = reason
                    .strip_prefix(&format!("{}: ", node.name))
                    .unwrap_or(reason)
                    .to_owned();
                self.refuse(
                    FindingCode::NodeUnreachable,
                    Some(node),
                    format!("unreachable ({reason}); its actions are not planned"),
                );
            }
        }
        // A standalone server is meant to take writes of its own, and one
        // mirrorset detached is stopped before it rejoins.
        let primaries: Vec<&Node> = cluster
            .members()
            .filter(|node| {
                self.facts(node).is_some_and(|facts| {
                    facts.is_running_primary() && !facts.detached_by_mirrorset(node)
                })
            })
            .collect();
        if primaries.len() > 1 {
            let names = primaries
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(" and ");
            self.refuse(FindingCode::SplitBrain,
                None,
                format!(
                    "split brain: {names} are both running as writable primaries; mirrorset will not touch the cluster \
                     until one is stopped (keep the one with the data you want, then plan again)"
                ),
            );
            blocked = true;
        }
        let versions: BTreeSet<(u32, String)> = cluster
            .members()
            .filter_map(|node| {
                let version = self.facts(node)?.postgres_version.as_ref()?;
                Some((major_version(version)?, node.name.to_string()))
            })
            .collect();
        let majors: BTreeSet<u32> = versions.iter().map(|(major, _)| *major).collect();
        if majors.len() > 1 {
            let list = versions
                .iter()
                .map(|(major, name)| format!("{name}: {major}"))
                .collect::<Vec<_>>()
                .join(", ");
            self.refuse(FindingCode::VersionMismatch, None, format!("PostgreSQL major versions differ ({list}); streaming replication needs one major version"));
            blocked = true;
        }
        let primary = cluster.node(&cluster.primary).expect("validated");
        if let Some(DataDir::Unreadable { owner, mode }) = self.facts(primary).map(|f| &f.data_dir)
        {
            self.refuse(
                FindingCode::DataDirUnreadable,
                Some(primary),
                unreadable(primary, owner, mode),
            );
            return true;
        }
        if let Some(facts) = self.facts(primary) {
            let mirror_with_data = cluster
                .mirrors()
                .find(|node| self.facts(node).is_some_and(Reached::has_data));
            if !facts.has_data() {
                if let Some(mirror) = mirror_with_data {
                    self.refuse(
                        FindingCode::PrimaryEmptyMirrorHasData,
                        Some(primary),
                        format!(
                            "the primary {} has no data while {} has: cloning would copy nothing; \
                             name the node that holds the data as primary",
                            primary.name, mirror.name
                        ),
                    );
                } else {
                    self.refuse(
                        FindingCode::PrimaryWithoutData,
                        Some(primary),
                        format!(
                            "the primary {} has no data directory to replicate",
                            primary.name
                        ),
                    );
                }
                blocked = true;
            } else if !blocked && !facts.was_primary() {
                // The named primary is a standby: the primary moves to it.
                blocked = self.detect_promotion(primary, facts);
            }
        } else {
            blocked = true;
        }
        blocked
    }
}
