//! `mirrorset status`: one row per node built from the gathered facts (and
//! the plan, when the passphrase was at hand), as a table or JSON. Pure.

use serde::Serialize;

use super::table::table;
use crate::facts::{DataDir, NodeFacts, Observed};
use crate::model::{Cluster, NodeState};
use crate::plan::Plan;

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub host: String,
    /// "active primary", "streaming standby", "catching up", "stopped", "empty", "unreachable", "diverged", …
    pub state: String,
    pub upstream: Option<String>,
    pub timeline: Option<u32>,
    pub lsn: Option<String>,
    pub lag_bytes: Option<i64>,
    pub lag_ms: Option<f64>,
    /// Its slot on the primary: "active", "inactive" or "missing".
    pub slot: Option<String>,
    pub slot_retained_bytes: Option<i64>,
    pub pending_restart: Vec<String>,
    /// Actions plan has for this node; None when the plan could not be made.
    pub planned_changes: Option<usize>,
}

pub fn status_rows(cluster: &Cluster, observed: &Observed, plan: Option<&Plan>) -> Vec<NodeStatus> {
    let primary = cluster
        .node(&cluster.primary)
        .and_then(|p| observed.nodes.get(&p.name))
        .and_then(NodeFacts::reached);
    let primary_timeline = primary.and_then(|p| p.timeline);
    cluster
        .nodes
        .iter()
        .map(|node| {
            let facts = observed.nodes.get(&node.name);
            let reached = facts.and_then(NodeFacts::reached);
            let replica = primary.and_then(|p| {
                p.replicas
                    .iter()
                    .find(|r| r.application_name == node.name.as_str())
            });
            let slot = primary.and_then(|p| p.slots.iter().find(|s| s.name == node.slot.as_str()));
            let state = match (facts, reached) {
                (Some(NodeFacts::No { .. }), _) => "unreachable".to_owned(),
                (Some(NodeFacts::Skipped), _) | (None, _) | (Some(NodeFacts::Yes(_)), None) => {
                    "absent (not contacted)".to_owned()
                }
                (_, Some(r)) if r.running && r.in_recovery == Some(false) => {
                    if node.name == cluster.primary {
                        "active primary".to_owned()
                    } else {
                        "writable primary (not the file's)".to_owned()
                    }
                }
                (_, Some(r)) if r.running => {
                    let streaming = r
                        .wal_receiver
                        .as_ref()
                        .is_some_and(|w| w.status == "streaming");
                    let diverged =
                        matches!((r.timeline, primary_timeline), (Some(t), Some(p)) if t > p);
                    if diverged {
                        "diverged".to_owned()
                    } else if !streaming {
                        "standby, not streaming".to_owned()
                    } else if replica.is_some_and(|r| {
                        r.state == "catchup" || r.lag_bytes.unwrap_or(0) > 16 * 1024 * 1024
                    }) {
                        "catching up".to_owned()
                    } else {
                        "streaming standby".to_owned()
                    }
                }
                (_, Some(r)) => match r.data_dir {
                    DataDir::Initialized { .. } => "stopped".to_owned(),
                    DataDir::Incomplete => "clone interrupted".to_owned(),
                    DataDir::Foreign => "not PostgreSQL".to_owned(),
                    _ => "empty".to_owned(),
                },
            };
            NodeStatus {
                name: node.name.to_string(),
                host: node.host.clone(),
                state,
                upstream: reached.and_then(|r| r.wal_receiver.as_ref()).and_then(|w| {
                    w.sender_host
                        .as_ref()
                        .map(|host| cluster.name_of_sender(host, w.sender_port))
                }),
                timeline: reached.and_then(|r| r.timeline),
                lsn: reached.and_then(|r| r.lsn.clone()),
                lag_bytes: replica.and_then(|r| r.lag_bytes),
                lag_ms: replica.and_then(|r| r.lag_ms),
                slot: (node.name != cluster.primary && node.state == NodeState::Member).then(
                    || match slot {
                        Some(slot) if slot.active => "active".to_owned(),
                        Some(_) => "inactive".to_owned(),
                        None => "missing".to_owned(),
                    },
                ),
                slot_retained_bytes: slot.and_then(|s| s.retained_bytes),
                pending_restart: reached
                    .map(|r| {
                        r.settings
                            .iter()
                            .filter(|(_, s)| s.pending_restart)
                            .map(|(n, _)| n.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                planned_changes: plan.map(|p| {
                    p.actions
                        .iter()
                        .filter(|a| a.node == node.name.as_str())
                        .count()
                }),
            }
        })
        .collect()
}

pub fn status_text(cluster: &Cluster, rows: &[NodeStatus]) -> String {
    let dash = || "-".to_owned();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.name.clone(),
                row.host.clone(),
                row.state.clone(),
                row.upstream.clone().unwrap_or_else(dash),
                row.timeline.map(|t| t.to_string()).unwrap_or_else(dash),
                row.lsn.clone().unwrap_or_else(dash),
                match (row.lag_bytes, row.lag_ms) {
                    (Some(bytes), Some(ms)) => format!("{bytes} B, {ms:.0} ms"),
                    (Some(bytes), None) => format!("{bytes} B"),
                    _ => dash(),
                },
                match (&row.slot, row.slot_retained_bytes) {
                    (Some(slot), Some(bytes)) => format!("{slot}, {bytes} B held"),
                    (Some(slot), None) => slot.clone(),
                    _ => dash(),
                },
                if row.pending_restart.is_empty() {
                    "no".to_owned()
                } else {
                    row.pending_restart.join(",")
                },
                match row.planned_changes {
                    Some(0) => "in sync".to_owned(),
                    Some(n) => format!("{n} to apply"),
                    None => "unknown".to_owned(),
                },
            ]
        })
        .collect();
    format!(
        "cluster {} (primary {})\n\n{}",
        cluster.name,
        cluster.primary,
        table(
            &[
                "NODE",
                "HOST",
                "STATE",
                "UPSTREAM",
                "TL",
                "LSN",
                "LAG",
                "SLOT",
                "PENDING RESTART",
                "PLAN"
            ],
            &cells
        )
    )
}
