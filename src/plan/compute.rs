//! The planner's core: (Cluster, Desired, Observed) -> Plan, with no I/O.
//! `plan` runs the parts in order (refusals, then a promotion or the
//! primary and each mirror, standalone nodes, what mirrorset made and the
//! file no longer names, PostgreSQL's verdict), so the order of actions is
//! planned here, not discovered at apply: the primary's files and restart
//! come before the role, grants and slots, which come before the clones
//! that need them; each mirror is then cloned (or fixed), written, started
//! and awaited. The parts live beside it, one concern per file.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::action::{
    Action, ActionKind, Cause, Change, Finding, FindingCode, NodeSummary, PLAN_FORMAT_VERSION,
    Plan, PlanSettings, Precondition, RoleNow, RoleWanted, Summary,
};
use super::health::HealthFinding;
use super::ordering::passfiles_before_new_password;
use super::promotion::PromotionCase;
use crate::desired::{Desired, DesiredNode, DesiredRole};
use crate::facts::{DataDir, NodeFacts, Observed, Reached};
use crate::model::{Cluster, Node, NodeState, Secret};

/// WAL a mirror may have yet to replay before plan calls it lagging.
pub(super) const LAGGING_BYTES: i64 = 16 * 1024 * 1024;

pub fn sha256(text: &str) -> String {
    sha256_bytes(text.as_bytes())
}

/// Hex SHA-256, the form preconditions record a file's content in.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) struct Planner<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) desired: &'a Desired,
    pub(super) observed: &'a Observed,
    pub(super) passphrase: &'a Secret<String>,
    pub(super) settings: PlanSettings,
    pub(super) actions: Vec<Action>,
    pub(super) warnings: Vec<Finding>,
    pub(super) refusals: Vec<Finding>,
    /// Set when the named primary is not the running one.
    pub(super) promotion: Option<PromotionCase<'a>>,
    pub(super) health: Vec<HealthFinding>,
    /// Nodes whose TLS files changed after the server last loaded them.
    pub(super) stale_tls: BTreeSet<String>,
}

pub fn plan(
    cluster: &Cluster,
    desired: &Desired,
    observed: &Observed,
    passphrase: &Secret<String>,
    settings: PlanSettings,
) -> Plan {
    let mut planner = Planner {
        cluster,
        desired,
        observed,
        passphrase,
        settings,
        actions: Vec::new(),
        warnings: Vec::new(),
        refusals: Vec::new(),
        promotion: None,
        health: Vec::new(),
        stale_tls: BTreeSet::new(),
    };
    let blocked = planner.refusals_first();
    let mut promotion = None;
    if !blocked {
        match planner.promotion.take() {
            Some(case) => promotion = Some(planner.plan_promotion(case)),
            None => {
                let primary = cluster.node(&cluster.primary).expect("validated");
                match planner.facts(primary) {
                    Some(facts) if !facts.running => planner.plan_stopped_primary(primary, facts),
                    Some(facts) => {
                        planner.plan_primary(primary, facts);
                        for node in cluster.mirrors() {
                            planner.plan_mirror(node);
                        }
                    }
                    None => {}
                }
            }
        }
        for node in cluster
            .nodes
            .iter()
            .filter(|node| node.state == NodeState::Standalone)
        {
            planner.plan_standalone(node);
        }
        // A plan that stops to read the nodes again plans this after.
        if !planner.actions.iter().any(|a| a.kind == ActionKind::Replan) {
            planner.plan_ownership();
        }
    }
    for node in cluster
        .nodes
        .iter()
        .filter(|node| node.state != NodeState::Absent)
    {
        if let Some(facts) = planner.facts(node) {
            planner.verdict(node, facts);
        }
    }
    passfiles_before_new_password(&mut planner.actions);
    let summary = summarize(&planner.actions);
    let schedule = super::schedule::schedule(&planner.actions);
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        cluster: cluster.name.to_string(),
        file: cluster.file.display().to_string(),
        nodes: cluster
            .nodes
            .iter()
            .map(|node| planner.summary(node))
            .collect(),
        actions: planner.actions,
        schedule,
        warnings: planner.warnings,
        refusals: planner.refusals,
        health: planner.health,
        promotion,
        summary,
    }
}

pub fn summarize(actions: &[Action]) -> Summary {
    let mut summary = Summary::default();
    for action in actions {
        match (action.change, &action.kind) {
            (_, ActionKind::Restart { .. }) => summary.restarts += 1,
            (Change::Add, _) => summary.add += 1,
            (Change::Change, _) => summary.change += 1,
            (Change::Remove, _) => summary.remove += 1,
            (Change::Replace, _) => {
                summary.add += 1;
                summary.remove += 1;
            }
            (Change::Step, _) => {}
        }
    }
    summary
}

impl<'a> Planner<'a> {
    pub(super) fn facts(&self, node: &Node) -> Option<&'a Reached> {
        self.observed
            .nodes
            .get(&node.name)
            .and_then(NodeFacts::reached)
    }

    pub(super) fn desired_node(&self, node: &Node) -> &'a DesiredNode {
        self.desired
            .node(&node.name)
            .expect("every node has a desired state")
    }

    pub(super) fn warn(&mut self, code: FindingCode, node: Option<&Node>, message: String) {
        self.warnings.push(Finding {
            code,
            node: node.map(|n| n.name.to_string()),
            message,
        });
    }

    pub(super) fn refuse(&mut self, code: FindingCode, node: Option<&Node>, message: String) {
        self.refusals.push(Finding {
            code,
            node: node.map(|n| n.name.to_string()),
            message,
        });
    }

    pub(super) fn push(
        &mut self,
        cause: Cause,
        node: &Node,
        change: Change,
        kind: ActionKind,
        reason: impl Into<String>,
        precondition: Precondition,
    ) {
        self.actions.push(Action {
            node: node.name.clone(),
            change,
            kind,
            cause,
            reason: reason.into(),
            precondition,
        });
    }

    pub(super) fn summary(&self, node: &Node) -> NodeSummary {
        let actual = match self.observed.nodes.get(&node.name) {
            None | Some(NodeFacts::Skipped) => RoleNow::NotContacted,
            Some(NodeFacts::No { .. }) => RoleNow::Unreachable,
            Some(NodeFacts::Yes(facts)) => {
                match (&facts.data_dir, facts.running, facts.in_recovery) {
                    (_, true, Some(false)) if facts.detached_by_mirrorset(node) => {
                        RoleNow::Standalone
                    }
                    (_, true, Some(false)) => RoleNow::Primary,
                    (_, true, _) => RoleNow::Standby {
                        upstream: facts
                            .wal_receiver
                            .as_ref()
                            .and_then(|w| w.sender_host.as_ref().map(|h| (h, w.sender_port)))
                            .map(|(host, port)| self.cluster.name_of_sender(host, port)),
                    },
                    (DataDir::Initialized { .. }, false, _) => RoleNow::Stopped,
                    (DataDir::Foreign, _, _) => RoleNow::NotPostgresql,
                    (DataDir::Unreadable { .. }, _, _) => RoleNow::DataDirUnreadable,
                    (DataDir::Incomplete, _, _) => RoleNow::CloneInterrupted,
                    _ => RoleNow::Empty,
                }
            }
        };
        let desired = match self.desired_node(node).role {
            DesiredRole::Primary => RoleWanted::Primary,
            DesiredRole::Mirror => RoleWanted::Mirror {
                of: self.cluster.primary.to_string(),
            },
            DesiredRole::Standalone => RoleWanted::Standalone,
            DesiredRole::Absent => RoleWanted::Absent,
        };
        NodeSummary {
            name: node.name.to_string(),
            host: node.host.clone(),
            actual,
            desired,
        }
    }
}

/// Why a node whose data directory the PostgreSQL user cannot read is not touched.
pub(super) fn unreadable(node: &Node, owner: &str, mode: &str) -> String {
    format!(
        "{} is owned by {owner} with mode {mode}: {} cannot look inside, so what it holds is unknown; \
         give it to the PostgreSQL user (chown, chmod 700), then plan again",
        node.postgres.data_dir, node.postgres.os_user
    )
}

pub(super) fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
