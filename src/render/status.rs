//! `mirrorset status`: one row per node built from the gathered facts (and
//! the plan, when the passphrase was at hand), as a table or JSON. Pure.

use serde::Serialize;

use super::table::table;
use crate::facts::parse::{server_message, server_messages};
use crate::facts::{DataDir, NodeFacts, Observed};
use crate::model::{Cluster, NodeState};
use crate::plan::{HealthIssue, Plan};
use crate::render::describe_health;

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub host: String,
    /// In the operator's words: "active" (the file's primary, writable),
    /// "standby", "demoted" (a former primary to be rewound), "failed",
    /// "diverged" (split brain, or a timeline ahead of the primary), "new"
    /// (to be cloned), "standalone" or "inactive" (`state = "absent"`).
    pub state: String,
    /// The node is what the file says, and working.
    pub healthy: bool,
    /// Why it is not, one reason each.
    pub causes: Vec<String>,
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

/// One row per node; `changes_known` is false when the plan was made
/// without the passphrase: its findings count, its steps do not.
pub fn status_rows(
    cluster: &Cluster,
    observed: &Observed,
    plan: &Plan,
    changes_known: bool,
) -> Vec<NodeStatus> {
    let primary = cluster
        .node(&cluster.primary)
        .and_then(|p| observed.nodes.get(&p.name))
        .and_then(NodeFacts::reached);
    let primary_node = cluster.node(&cluster.primary);
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
            let is_primary = node.name == cluster.primary;
            let (state, cause): (&str, Option<String>) = match (facts, reached) {
                (Some(NodeFacts::No { reason }), _) => (
                    "failed",
                    Some(
                        reason
                            .strip_prefix(&format!("{}: ", node.name))
                            .unwrap_or(reason)
                            .to_owned(),
                    ),
                ),
                // HA products' word for a configured server that takes no part.
                (Some(NodeFacts::Skipped), _) | (None, _) | (Some(NodeFacts::Yes(_)), None) => {
                    ("inactive", None)
                }
                (_, Some(r)) if r.is_running_primary() => {
                    if is_primary {
                        ("active", None)
                    } else if node.state == NodeState::Standalone {
                        ("standalone", None)
                    } else {
                        (
                            "diverged",
                            Some(format!(
                                "runs as a writable primary while the file names {}: split brain",
                                cluster.primary
                            )),
                        )
                    }
                }
                (_, Some(r)) if r.running => {
                    let streams_as_wanted =
                        primary_node.is_some_and(|p| r.streams_from(p, node.slot.as_str()));
                    let diverged =
                        matches!((r.timeline, primary_timeline), (Some(t), Some(p)) if t > p);
                    if diverged {
                        (
                            "diverged",
                            Some(format!(
                                "on timeline {}, ahead of {}'s {}",
                                r.timeline.unwrap_or(0),
                                cluster.primary,
                                primary_timeline.unwrap_or(0)
                            )),
                        )
                    } else if is_primary {
                        (
                            "standby",
                            Some("the file names it primary: plan promotes it".to_owned()),
                        )
                    } else if node.state != NodeState::Member {
                        ("standby", Some(format!("the file wants it {}", node.state)))
                    } else if streams_as_wanted && r.replay_paused == Some(true) {
                        (
                            "standby",
                            Some("replay is paused: it falls further behind".to_owned()),
                        )
                    } else if streams_as_wanted {
                        ("standby", None)
                    } else {
                        let receiver = r
                            .wal_receiver
                            .as_ref()
                            .map(|w| format!("WAL receiver {}", w.status))
                            .unwrap_or_else(|| "no WAL receiver".to_owned());
                        let log = r
                            .log_errors
                            .last()
                            .map(|l| format!("; last log error: {}", server_message(l)))
                            .unwrap_or_default();
                        (
                            "failed",
                            Some(format!(
                                "does not stream from {} through slot {} ({receiver}){log}",
                                cluster.primary, node.slot
                            )),
                        )
                    }
                }
                (_, Some(r)) => match r.data_dir {
                    DataDir::Initialized { .. } if r.was_primary() && !is_primary => (
                        "demoted",
                        Some("a former primary, stopped: plan rewinds it into a mirror".to_owned()),
                    ),
                    DataDir::Initialized { .. } => (
                        "failed",
                        Some(match &r.config_rejected {
                            Some(error) => format!(
                                "not running, and would not start: {}",
                                server_messages(error)
                            ),
                            None => "not running".to_owned(),
                        }),
                    ),
                    DataDir::Incomplete => ("failed", Some("a clone was interrupted".to_owned())),
                    DataDir::Unreadable { ref owner, ref mode } => (
                        "failed",
                        Some(format!(
                            "the PostgreSQL user cannot read its data directory (owner {owner}, mode {mode})"
                        )),
                    ),
                    DataDir::Foreign => (
                        "failed",
                        Some("its data directory is not PostgreSQL's".to_owned()),
                    ),
                    _ if node.state == NodeState::Member && !is_primary => {
                        ("new", Some("no data yet: plan clones it".to_owned()))
                    }
                    _ => ("failed", Some("no data".to_owned())),
                },
            };
            let mut causes: Vec<String> = cause.into_iter().collect();
            {
                causes.extend(
                    plan.health
                        .iter()
                        .filter(|f| f.node == node.name.as_str())
                        .filter(|f| {
                            !matches!(
                                f.issue,
                                HealthIssue::MirrorNotStreaming { .. } | HealthIssue::ReplayPaused
                            )
                        })
                        .map(|f| describe_health(&f.issue)),
                );
                causes.extend(
                    plan.refusals
                        .iter()
                        .filter(|f| f.node.as_deref() == Some(node.name.as_str()))
                        .map(|f| f.message.clone()),
                );
            }
            // Nothing is planned for a node that could not be read: unknown, not in sync.
            let planned_changes = (changes_known && reached.is_some()).then(|| {
                plan.actions
                    .iter()
                    .filter(|a| a.node == node.name)
                    .count()
            });
            let healthy = matches!(state, "active" | "standby" | "inactive" | "standalone")
                && causes.is_empty()
                && planned_changes.unwrap_or(0) == 0;
            NodeStatus {
                name: node.name.to_string(),
                host: node.host.clone(),
                state: state.to_owned(),
                healthy,
                causes,
                upstream: reached.and_then(|r| r.wal_receiver.as_ref()).and_then(|w| {
                    w.sender_host
                        .as_ref()
                        .map(|host| cluster.name_of_sender(host, w.sender_port))
                }),
                timeline: reached.and_then(|r| r.timeline),
                lsn: reached.and_then(|r| r.lsn.clone()),
                lag_bytes: replica.and_then(|r| r.lag_bytes),
                lag_ms: replica.and_then(|r| r.lag_ms),
                slot: (!is_primary && node.state == NodeState::Member).then(|| match slot {
                    Some(slot) if slot.active => "active".to_owned(),
                    Some(_) => "inactive".to_owned(),
                    None => "missing".to_owned(),
                }),
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
                planned_changes,
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
                    Some(0) if row.healthy => "in sync".to_owned(),
                    Some(0) => "nothing to apply".to_owned(),
                    Some(n) => format!("{n} to apply"),
                    None if row.state == "inactive" => "-".to_owned(),
                    None => "unknown".to_owned(),
                },
            ]
        })
        .collect();
    let mut causes = String::new();
    for row in rows {
        for cause in &row.causes {
            causes.push_str(&format!("{}: {cause}\n", row.name));
        }
    }
    let unhealthy = rows.iter().filter(|row| !row.healthy).count();
    let verdict = if unhealthy == 0 {
        format!("All {} nodes are what the file says.\n", rows.len())
    } else {
        format!(
            "{unhealthy} of {} nodes are not what the file says.\n",
            rows.len()
        )
    };
    let causes = if causes.is_empty() {
        String::new()
    } else {
        format!("\n{causes}")
    };
    format!(
        "cluster {} (primary {})\n\n{}{causes}\n{verdict}",
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
