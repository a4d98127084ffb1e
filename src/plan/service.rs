//! Starting, reloading and restarting a node: which changed settings need
//! what, and whether a node would start at all. Pure.

use super::action::{ActionKind, Cause, Change, Precondition};
use super::compute::Planner;
use super::settings::setting_differs;
use crate::facts::Reached;
use crate::facts::parse::conf_settings;
use crate::model::Node;

impl Planner<'_> {
    /// Settings the server would change: (name, postmaster context, raised above the running value).
    pub(super) fn changed_settings(&self, node: &Node, facts: &Reached) -> Vec<(String, bool)> {
        let desired = self.desired_node(node);
        let mut changed = Vec::new();
        for (name, value) in &desired.settings {
            if let Some(observed) = facts.settings.get(name) {
                if setting_differs(value, observed) || observed.pending_restart {
                    changed.push((name.clone(), observed.context == "postmaster"));
                }
            }
        }
        // Removed from the file: back to the server's default.
        if let Some(old) = facts
            .files
            .text(&crate::desired::read_paths(node).mirrorset_conf)
        {
            for name in conf_settings(old)
                .into_keys()
                .filter(|name| !desired.settings.contains_key(name))
            {
                let postmaster = facts
                    .settings
                    .get(&name)
                    .is_some_and(|s| s.context == "postmaster");
                changed.push((name, postmaster));
            }
        }
        changed
    }

    pub(super) fn plan_service(&mut self, node: &Node, facts: &Reached, files_changed: bool) {
        if !facts.running {
            if self.rejected_after_plan(node, facts).is_some()
                || !self.overridden_names(node, facts).is_empty()
            {
                // It would not start, or not as the file says: the verdict names why.
                return;
            }
            self.push(
                Cause::ServerStopped,
                node,
                Change::Step,
                ActionKind::Start,
                "the server is not running",
                Precondition::None,
            );
            return;
        }
        // ALTER SYSTEM RESET takes effect on reload; the value it removes
        // was never running (it only made pending_restart true).
        let resets: Vec<String> = self
            .actions
            .iter()
            .filter(|a| a.node == node.name)
            .filter_map(|a| match &a.kind {
                ActionKind::ResetSetting { setting } => Some(setting.clone()),
                _ => None,
            })
            .collect();
        let files_changed = files_changed || !resets.is_empty();
        let mut changed = self.changed_settings(node, facts);
        // Never restart into a value another file imposes: the verdict refuses it.
        let overridden = self.overridden_names(node, facts);
        changed.retain(|(name, _)| !overridden.contains(name));
        let desired = self.desired_node(node);
        changed.retain(|(name, _)| {
            !resets.contains(name)
                || matches!(
                    (desired.settings.get(name), facts.settings.get(name)),
                    (Some(value), Some(observed)) if setting_differs(value, observed)
                )
        });
        let restart: Vec<String> = changed
            .iter()
            .filter(|(_, postmaster)| *postmaster)
            .map(|(n, _)| n.clone())
            .collect();
        if !restart.is_empty() {
            self.push(
                Cause::RestartSetting,
                node,
                Change::Step,
                ActionKind::Restart {
                    settings: restart.clone(),
                },
                format!(
                    "{} changed (postmaster context: needs a restart)",
                    restart.join(", ")
                ),
                Precondition::None,
            );
        } else if !changed.is_empty() || files_changed {
            let reason = if changed.is_empty() && self.stale_tls.contains(node.name.as_str()) {
                "the certificate, key or CA changed on disk after the server last loaded them"
                    .to_owned()
            } else if changed.is_empty() {
                "configuration files changed".to_owned()
            } else {
                format!(
                    "{} changed",
                    changed
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.push(
                Cause::Reload,
                node,
                Change::Step,
                ActionKind::Reload,
                reason,
                Precondition::None,
            );
        }
    }

    /// The plan so far starts or restarts `node`.
    pub(super) fn starts(&self, node: &Node) -> bool {
        self.actions.iter().any(|a| {
            a.node == node.name && matches!(a.kind, ActionKind::Restart { .. } | ActionKind::Start)
        })
    }
}
