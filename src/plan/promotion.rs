//! A new primary inside the planner: a switchover when the old one can be
//! stopped first, a failover when it cannot. (Cluster, Desired, Observed)
//! -> ordered actions, refusals and warnings. Pure.

use super::action::{
    ActionKind, Cause, Change, FindingCode, Precondition, Promotion, PromotionKind,
};
use super::compute::{LAGGING_BYTES, Planner, human_bytes};
use crate::facts::observed::SlotFacts;
use crate::facts::{DataDir, NodeFacts, Reached};
use crate::model::{Lsn, Node};

/// What `detect_promotion` found, for `plan_promotion`.
pub(super) struct PromotionCase<'a> {
    kind: PromotionKind,
    target: &'a Node,
    /// The primary until now, when it was reached (running or stopped).
    old: Option<&'a Node>,
    old_running: bool,
    /// The old primary's name for messages, when it was not reached.
    gone: Option<String>,
}

/// The host and port in a conninfo string ("host=10.0.0.1 port=5432 …").
fn conninfo_host(conninfo: &str) -> Option<(String, Option<i32>)> {
    let mut host = None;
    let mut port = None;
    for pair in conninfo.split_whitespace() {
        match pair.split_once('=') {
            Some(("host", value)) => host = Some(value.trim_matches('\'').to_owned()),
            Some(("port", value)) => port = value.trim_matches('\'').parse().ok(),
            _ => {}
        }
    }
    host.map(|host| (host, port))
}

impl<'a> Planner<'a> {
    /// The named primary `target` runs as a standby, or is a stopped one:
    /// find the primary it replaces and check a promotion is safe. Records
    /// refusals; true when nothing may be planned at all.
    pub(super) fn detect_promotion(&mut self, target: &'a Node, facts: &'a Reached) -> bool {
        if !facts.running {
            self.refuse(FindingCode::TargetStoppedStandby,
                Some(target),
                format!(
                    "{} is named primary but is a stopped standby: start it so it catches up, then plan again",
                    target.name
                ),
            );
            return true;
        }
        let cluster = self.cluster;
        let others: Vec<&'a Node> = cluster
            .members()
            .filter(|node| node.name != target.name)
            .collect();
        let running_old = others.iter().copied().find(|node| {
            self.facts(node)
                .is_some_and(|f| f.is_running_primary() && !f.detached_by_mirrorset(node))
        });
        if let Some(old) = running_old {
            let old_facts = self.facts(old).expect("found among reached nodes");
            let blocked = self.switchover_preflight(target, facts, old, old_facts);
            self.promotion = Some(PromotionCase {
                kind: PromotionKind::Switchover,
                target,
                old: Some(old),
                old_running: true,
                gone: None,
            });
            return blocked;
        }
        let stopped_old = others.iter().copied().find(|node| {
            self.facts(node).is_some_and(|f| {
                !f.running && f.was_primary() && f.system_identifier() == facts.system_identifier()
            })
        });
        if let Some(old) = stopped_old {
            let old_facts = self.facts(old).expect("found among reached nodes");
            let (clean, checkpoint) = match &old_facts.data_dir {
                DataDir::Initialized {
                    cluster_state,
                    checkpoint_lsn,
                    ..
                } => (
                    cluster_state == "shut down",
                    checkpoint_lsn.as_deref().and_then(Lsn::parse),
                ),
                _ => (false, None),
            };
            if clean {
                let has = facts.lsn.as_deref().and_then(Lsn::parse);
                let blocked = match (has, checkpoint) {
                    (Some(has), Some(checkpoint)) if has <= checkpoint => {
                        self.refuse(FindingCode::TargetBehindStoppedPrimary,
                            Some(target),
                            format!(
                                "{} has WAL up to {has}, but {} was stopped at {checkpoint}: start {} so that {} catches up (the switchover stops it again), then plan again",
                                target.name, old.name, old.name, target.name
                            ),
                        );
                        true
                    }
                    _ => false,
                };
                self.promotion = Some(PromotionCase {
                    kind: PromotionKind::Switchover,
                    target,
                    old: Some(old),
                    old_running: false,
                    gone: None,
                });
                return blocked;
            }
            self.failover(
                target,
                Some(old),
                old.name.to_string(),
                format!(
                    "{} stopped without a clean shutdown (it crashed or was killed)",
                    old.name
                ),
            );
            return false;
        }
        let gone: Vec<&Node> = others
            .iter()
            .copied()
            .filter(|node| {
                matches!(
                    self.observed.nodes.get(&node.name),
                    Some(NodeFacts::No { .. })
                )
            })
            .collect();
        // The standby's primary_conninfo says which node it followed.
        let followed = facts
            .settings
            .get("primary_conninfo")
            .and_then(|s| conninfo_host(&s.setting))
            .map(|(host, port)| cluster.name_of_sender(&host, port));
        let old_name = match (&followed, gone.as_slice()) {
            (Some(name), _) => name.clone(),
            (None, [one]) => one.name.to_string(),
            (None, _) => "the old primary".to_owned(),
        };
        let why = if gone.iter().any(|node| node.name.as_str() == old_name) {
            format!("{old_name} is unreachable")
        } else if gone.is_empty() {
            "no member runs as primary".to_owned()
        } else {
            format!(
                "no reachable member runs as primary ({} unreachable)",
                gone.iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if self.settings.allow_failover {
            // --allow-failover accepts that the old primary is unreachable
            // (all unreachable members when it is not known which one it
            // was); another unreachable mirror is still refused.
            let accepted: Vec<&str> = if gone.iter().any(|n| n.name.as_str() == old_name) {
                vec![old_name.as_str()]
            } else {
                gone.iter().map(|n| n.name.as_str()).collect()
            };
            let (accepted, kept): (Vec<super::Finding>, _) = std::mem::take(&mut self.refusals)
                .into_iter()
                .partition(|r| r.node.as_deref().is_some_and(|n| accepted.contains(&n)));
            self.refusals = kept;
            self.warnings.extend(accepted);
        }
        self.failover(target, None, old_name, why);
        false
    }

    /// Records a failover: refused unless --allow-failover, then a warning.
    fn failover(&mut self, target: &'a Node, old: Option<&'a Node>, old_name: String, why: String) {
        let risk = format!(
            "promoting {} while {old_name} may still take writes risks split brain: two primaries whose data diverge. \
             Writes {old_name} made that {} did not receive are lost",
            target.name, target.name
        );
        if self.settings.allow_failover {
            self.warn(FindingCode::Failover,
                Some(target),
                format!(
                    "failover ({why}): {risk}. When {old_name} is reachable again it must stay stopped; the next plan rewinds it to follow {}",
                    target.name
                ),
            );
        } else {
            self.refuse(FindingCode::FailoverNotAllowed,
                Some(target),
                format!(
                    "failover ({why}): {risk}. Make sure {old_name} is down and stays down (power, network or service), then plan and apply with --allow-failover"
                ),
            );
        }
        self.more_advanced_mirrors(target);
        self.promotion = Some(PromotionCase {
            kind: PromotionKind::Failover,
            target,
            old,
            old_running: false,
            gone: Some(old_name),
        });
    }

    /// In a failover, a mirror that has replayed more than the target holds
    /// writes the target lacks: say so, the operator may promote it instead.
    fn more_advanced_mirrors(&mut self, target: &Node) {
        let position = |facts: &Reached| facts.lsn.as_deref().and_then(Lsn::parse);
        let Some(target_at) = self.facts(target).and_then(position) else {
            return;
        };
        let ahead: Vec<(&Node, Lsn)> = self
            .cluster
            .members()
            .filter(|node| node.name != target.name)
            .filter_map(|node| Some((node, self.facts(node).and_then(position)?)))
            .filter(|(_, at)| *at > target_at)
            .collect();
        for (node, at) in ahead {
            self.warn(FindingCode::MirrorAheadOfTarget,
                Some(node),
                format!(
                    "{} has replayed up to {at}, further than {} ({target_at}): it holds writes {} lacks, and may not be able to follow it after the failover. Promoting {} instead loses less",
                    node.name, target.name, target.name, node.name
                ),
            );
        }
    }

    /// A switchover must lose nothing and leave the old primary able to
    /// follow: the target streams and is caught up, and pg_rewind can work.
    fn switchover_preflight(
        &mut self,
        target: &Node,
        facts: &Reached,
        old: &Node,
        old_facts: &Reached,
    ) -> bool {
        let refusals = self.refusals.len();
        self.synced_before_promotion(target, facts, old, old_facts);
        let streaming = facts.wal_receiver.as_ref().is_some_and(|w| {
            w.status == "streaming" && w.sender_host.as_deref() == Some(old.host.as_str())
        });
        if !streaming {
            let now = match &facts.wal_receiver {
                Some(w) => format!(
                    "its WAL receiver is {} from {}",
                    w.status,
                    w.sender_host.as_deref().unwrap_or("nowhere")
                ),
                None => "it has no WAL receiver".to_owned(),
            };
            self.refuse(FindingCode::TargetNotStreaming,
                Some(target),
                format!(
                    "a switchover to {} needs it streaming from {} and caught up, but {now}; see its log",
                    target.name, old.name
                ),
            );
        }
        if facts.replay_paused == Some(true) {
            self.refuse(FindingCode::TargetReplayPaused,
                Some(target),
                format!(
                    "replay is paused on {}: resume it (SELECT pg_wal_replay_resume()) and let it catch up before a switchover",
                    target.name
                ),
            );
        }
        let positions = (
            old_facts.lsn.as_deref().and_then(Lsn::parse),
            facts.lsn.as_deref().and_then(Lsn::parse),
        );
        if let (Some(written), Some(replayed)) = positions {
            let behind = written.0.saturating_sub(replayed.0) as i64;
            if behind > LAGGING_BYTES {
                self.refuse(FindingCode::TargetNotCaughtUp,
                    Some(target),
                    format!(
                        "{} is not caught up: it replayed up to {replayed}, {} wrote up to {written} ({} behind); let it catch up, then plan the switchover again",
                        target.name,
                        old.name,
                        human_bytes(behind)
                    ),
                );
            }
        }
        let on = |name: &str| {
            old_facts
                .settings
                .get(name)
                .is_some_and(|s| s.setting == "on")
        };
        if !on("wal_log_hints") && !on("data_checksums") {
            self.refuse(FindingCode::OldPrimaryNotRewindable,
                Some(old),
                format!(
                    "{} runs with wal_log_hints off and without data checksums, so pg_rewind could not make it a mirror after the switchover. \
                     Apply with {} still primary first (mirrorset.conf turns wal_log_hints on; a restart), then switch over",
                    old.name, old.name
                ),
            );
        }
        self.refusals.len() > refusals
    }

    /// The steps of a promotion, in order; returns where writes stop and resume.
    pub(super) fn plan_promotion(&mut self, case: PromotionCase<'a>) -> Promotion {
        let target = case.target;
        let facts = self.facts(target).expect("a promotion target was reached");
        let old_name = case.old.map(|n| n.name.to_string()).or(case.gone.clone());
        if case.kind == PromotionKind::Failover && !target.sync.is_empty() {
            let old_facts = case.old.and_then(|old| self.facts(old));
            match (case.old, old_facts) {
                (Some(old), Some(old_facts)) => {
                    self.synced_before_promotion(target, facts, old, old_facts);
                }
                _ => self.warn(FindingCode::FailoverWithoutSyncCheck,
                    Some(target),
                    format!(
                        "FAILOVER WITHOUT A CHECK OF [[sync]]: {} could not be read, so whether {} holds its copies (its key, say) is unknown; the application may not start on it",
                        old_name.as_deref().unwrap_or("the old primary"),
                        target.name
                    ),
                ),
            }
        }
        // Before anything changes: a failover's fence (the old primary cut
        // off), then the application's own steps: its daemon stops on the
        // old primary, then on the mirror to be promoted.
        if let (PromotionKind::Failover, Some(fence)) =
            (case.kind, self.cluster.hooks.fence.clone())
        {
            let old = old_name
                .clone()
                .unwrap_or_else(|| "the old primary".to_owned());
            let old_host = self
                .cluster
                .nodes
                .iter()
                .find(|node| node.name.as_str() == old)
                .map(|node| node.host.clone())
                .unwrap_or_default();
            self.push(Cause::Fence,
                target,
                Change::Step,
                ActionKind::Fence {
                    argv: fence,
                    old_node: old.clone(),
                    old_host,
                },
                format!(
                    "failover: {old} is cut off before {} is promoted, so it can never take writes beside it",
                    target.name
                ),
                Precondition::None,
            );
        }
        if let (Some(old), true) = (case.old, case.old_running) {
            self.hook(old, Hook::Before, "primary", "mirror");
        }
        self.hook(target, Hook::Before, "mirror", "primary");
        // The slots the other members will use, made while the target is a
        // mirror: they are there from its first moment as primary.
        let mut slots = facts.slots.clone();
        for (slot, node) in self.desired.slots.clone() {
            if slots.iter().any(|s| s.name == slot.as_str()) {
                continue;
            }
            self.push(
                Cause::MemberSlot,
                target,
                Change::Add,
                ActionKind::CreateSlot {
                    slot: slot.to_string(),
                    for_node: node.to_string(),
                },
                format!(
                    "{node} will replicate from {} through its own slot, made before the promotion",
                    target.name
                ),
                Precondition::SlotMissing {
                    slot: slot.to_string(),
                },
            );
            slots.push(SlotFacts {
                name: slot.to_string(),
                physical: true,
                active: false,
                restart_lsn: None,
                wal_status: None,
                retained_bytes: None,
            });
        }
        let mut writes_stop_at = None;
        if let (Some(old), true) = (case.old, case.old_running) {
            self.push(Cause::Switchover,
                old,
                Change::Step,
                ActionKind::Stop,
                format!(
                    "switchover: {} stops first so that only one server ever takes writes; from here writes are refused until {} is promoted",
                    old.name, target.name
                ),
                Precondition::None,
            );
            writes_stop_at = Some(self.actions.len());
        }
        let promote_precondition = match (case.kind, case.old) {
            (PromotionKind::Switchover, Some(old)) => {
                self.push(Cause::Switchover,
                    target,
                    Change::Step,
                    ActionKind::WaitReceived {
                        from_node: old.name.to_string(),
                    },
                    format!(
                        "nothing {} committed is lost: {} has received all of it before it is promoted",
                        old.name, target.name
                    ),
                    Precondition::NodeStopped {
                        node: old.name.to_string(),
                    },
                );
                Precondition::NodeStopped {
                    node: old.name.to_string(),
                }
            }
            _ => Precondition::None,
        };
        self.push(
            match case.kind {
                PromotionKind::Switchover => Cause::Switchover,
                PromotionKind::Failover => Cause::Failover,
            },
            target,
            Change::Step,
            ActionKind::Promote,
            match case.kind {
                PromotionKind::Switchover => format!(
                    "{} becomes the primary (a new timeline); writes are accepted again",
                    target.name
                ),
                PromotionKind::Failover => format!(
                    "failover: {} becomes the primary (a new timeline) without {}",
                    target.name,
                    old_name.as_deref().unwrap_or("the old primary")
                ),
            },
            promote_precondition,
        );
        let writes_resume_after = self.actions.len();
        let writes_stop_at = writes_stop_at.unwrap_or(writes_resume_after);

        let mut promoted = facts.clone();
        promoted.in_recovery = Some(false);
        promoted.standby_signal = false;
        promoted.wal_receiver = None;
        promoted.replay_paused = None;
        promoted.slots = slots;
        self.plan_primary(target, &promoted);
        self.hook(target, Hook::After, "mirror", "primary");

        let cluster = self.cluster;
        for node in cluster
            .mirrors()
            .filter(|node| Some(node.name.as_str()) != case.old.map(|o| o.name.as_str()))
        {
            self.plan_mirror(node);
        }
        if let Some(old) = case.old {
            let observed = self.facts(old).expect("the old primary was reached");
            let mut stopped = observed.clone();
            if case.old_running {
                stopped.running = false;
                if let DataDir::Initialized { cluster_state, .. } = &mut stopped.data_dir {
                    *cluster_state = "shut down".to_owned();
                }
            }
            let first = self.actions.len();
            self.plan_mirror_with(old, &stopped);
            self.hook(old, Hook::After, "primary", "mirror");
            if case.kind == PromotionKind::Switchover {
                for action in &mut self.actions[first..] {
                    if matches!(action.kind, ActionKind::Rewind { .. }) {
                        action.reason = format!(
                            "{} follows {} from now on; pg_rewind finds nothing to undo after a clean switchover, or undoes what {} never received",
                            old.name, target.name, target.name
                        );
                    }
                }
            }
        }
        Promotion {
            kind: case.kind,
            from: old_name,
            to: target.name.to_string(),
            writes_stop_at,
            writes_resume_after,
        }
    }
}

/// Which `[hooks]` program runs around a role change.
#[derive(Debug, Clone, Copy)]
pub(super) enum Hook {
    Before,
    After,
}

impl Planner<'_> {
    /// A role-change hook on `node`, when the cluster file names one.
    pub(super) fn hook(&mut self, node: &Node, hook: Hook, old_role: &str, new_role: &str) {
        let hooks = &self.cluster.hooks;
        let (name, argv, when) = match hook {
            Hook::Before => (
                "before_role_change",
                hooks.before_role_change.clone(),
                "before",
            ),
            Hook::After => ("after_role_change", hooks.after_role_change.clone(), "once"),
        };
        let Some(argv) = argv else {
            return;
        };
        let reason = match hook {
            Hook::Before => format!(
                "[hooks] {name}: {} goes from {old_role} to {new_role}; run {when} its server changes",
                node.name
            ),
            Hook::After => format!(
                "[hooks] {name}: {} is {new_role} now (was {old_role}); run {when} the new role is in effect",
                node.name
            ),
        };
        self.push(
            Cause::RoleChangeHook,
            node,
            Change::Step,
            ActionKind::RunHook {
                hook: name.to_owned(),
                argv,
                old_role: old_role.to_owned(),
                new_role: new_role.to_owned(),
            },
            reason,
            Precondition::None,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_host_of_a_conninfo() {
        assert_eq!(
            super::conninfo_host("user=r host=10.0.0.1 port=5433 application_name=db2"),
            Some(("10.0.0.1".to_owned(), Some(5433)))
        );
        assert_eq!(
            super::conninfo_host("host='10.0.0.1'"),
            Some(("10.0.0.1".to_owned(), None))
        );
        assert_eq!(super::conninfo_host("user=r"), None);
    }
}
