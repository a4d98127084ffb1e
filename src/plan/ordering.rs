//! The order of a plan's actions where it matters beyond each node's own
//! steps: passfiles before a new password, and a mirror's restart before
//! its primary's when a hot standby setting grows. Pure.

use super::action::{Action, ActionKind, SecretRef};
use super::compute::Planner;
use crate::model::Node;

/// Settings a hot standby must have at least as high as its primary.
const STANDBY_MUST_MATCH: [&str; 5] = [
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
];

/// A rotation writes every passfile before the role gets the new password:
/// a mirror that reconnects meanwhile finds the new one already there.
pub(super) fn passfiles_before_new_password(actions: &mut Vec<Action>) {
    let Some(at) = actions.iter().position(|a| {
        matches!(
            a.kind,
            ActionKind::EnsureRole {
                create: false,
                set_password: true,
                ..
            }
        )
    }) else {
        return;
    };
    let is_passfile = |action: &Action| {
        matches!(
            action.kind,
            ActionKind::WriteFile {
                secret: Some(SecretRef::Passfile),
                ..
            }
        )
    };
    let later: Vec<Action> = actions.drain(at..).collect();
    let (passfiles, rest): (Vec<Action>, Vec<Action>) = later.into_iter().partition(is_passfile);
    actions.extend(passfiles);
    actions.extend(rest);
}

impl Planner<'_> {
    /// Settings a standby must match: when the primary raises them, its
    /// mirrors restart first; when it lowers them, the primary goes first.
    pub(super) fn order_restarts(&mut self, mirror: &Node) {
        let primary = self.cluster.primary.to_string();
        let Some(primary_facts) = self
            .cluster
            .node(&self.cluster.primary)
            .and_then(|p| self.facts(p))
        else {
            return;
        };
        let desired_primary = self.desired.node(&self.cluster.primary).expect("validated");
        let raising = STANDBY_MUST_MATCH.iter().any(|name| {
            let wanted = desired_primary
                .settings
                .get(*name)
                .and_then(|v| v.to_string().parse::<i64>().ok());
            let running = primary_facts
                .settings
                .get(*name)
                .and_then(|s| s.setting.parse::<i64>().ok());
            matches!((wanted, running), (Some(w), Some(r)) if w > r)
        });
        if !raising {
            return;
        }
        let is_restart = |a: &Action, node: &str| {
            a.node.as_str() == node && matches!(a.kind, ActionKind::Restart { .. })
        };
        let (Some(primary_at), Some(mirror_restart)) = (
            self.actions.iter().position(|a| is_restart(a, &primary)),
            self.actions
                .iter()
                .position(|a| is_restart(a, mirror.name.as_str())),
        ) else {
            return;
        };
        if mirror_restart < primary_at {
            return;
        }
        // The mirror's own steps up to its restart (its files first) move
        // before the primary's restart; waiting for it to stream stays last.
        let first = self
            .actions
            .iter()
            .position(|a| a.node == mirror.name)
            .expect("the mirror has a restart action");
        let moved: Vec<Action> = self.actions.drain(first..=mirror_restart).collect();
        self.actions.splice(primary_at..primary_at, moved);
    }
}
