//! A node detached as a standalone server: promoted onto a timeline of its
//! own, its files and service, and no more replication, with the
//! role-change hooks around the detachment. Pure.

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition};
use super::compute::Planner;
use super::promotion::Hook;
use crate::model::Node;

impl Planner<'_> {
    /// A node detached from the cluster: promoted to an independent server
    /// with its own mirrorset.conf and no replication lines.
    pub(super) fn plan_standalone(&mut self, node: &Node) {
        let Some(facts) = self.facts(node) else {
            return;
        };
        if !facts.has_data() {
            self.warn(
                FindingCode::NothingToDetach,
                Some(node),
                format!("{} has no data directory: nothing to detach", node.name),
            );
            return;
        }
        let in_recovery = if facts.running {
            facts.in_recovery == Some(true)
        } else {
            facts.standby_signal
        };
        let promote_reason = format!(
            "state = \"standalone\": {} stops following {} and becomes an independent server on a timeline of its own; it keeps its data",
            node.name, self.cluster.primary
        );
        self.plan_tls_files(node, facts);
        let mut detached = facts.clone();
        detached.standby_signal = false;
        detached.in_recovery = Some(false);
        detached.wal_receiver = None;
        if !facts.running {
            // Its files first: it starts with them (plan_service starts it).
            self.plan_config_files(node, facts);
            self.plan_service(node, facts, true);
        }
        if in_recovery {
            self.hook(node, Hook::Before, "mirror", "standalone");
            self.push(
                Cause::StandaloneDetach,
                node,
                Change::Step,
                ActionKind::Promote,
                promote_reason,
                Precondition::None,
            );
        }
        if facts.running {
            let files_changed = self.plan_config_files(node, &detached);
            self.plan_service(node, &detached, files_changed);
        }
        if in_recovery {
            self.hook(node, Hook::After, "mirror", "standalone");
        }
    }
}
