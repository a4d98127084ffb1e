//! `mirrorset history`: reads every member's audit log (one read per node,
//! all nodes at once) and shows them merged in time order, the "log of HA
//! commands" HA products keep. I/O.

use std::process::ExitCode;

use miette::miette;

use super::one_cluster;
use crate::apply::{AUDIT_FILE, AuditRecord, merge_audit_logs, read_audit_log};
use crate::model::NodeState;
use crate::render::history_text;
use crate::transport::{self, AccessOptions, DEFAULT_CONCURRENCY, fan_out};

/// What one node's log gave.
enum NodeLog {
    Read {
        records: Vec<AuditRecord>,
        unreadable_lines: usize,
    },
    Failed(String),
}

pub fn history(
    file: &str,
    only: Option<&str>,
    json: bool,
    access: &AccessOptions,
) -> miette::Result<ExitCode> {
    let cluster = one_cluster(file)?;
    if let Some(name) = only
        && !cluster.nodes.iter().any(|node| node.name.as_str() == name)
    {
        return Err(miette!(
            code = "cli::unknown_node",
            "--node {name}: the cluster file has no such node"
        ));
    }
    // Absent nodes are never contacted; their logs stay where they are.
    let nodes: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|node| node.state != NodeState::Absent)
        .filter(|node| only.is_none_or(|name| node.name.as_str() == name))
        .collect();
    let logs = fan_out(&nodes, DEFAULT_CONCURRENCY, |node| {
        let path = format!("{}/{AUDIT_FILE}", node.postgres.state_dir);
        let read = transport::open(node, access).and_then(|transport| transport.read_file(&path));
        let log = match read {
            Ok(None) => NodeLog::Read {
                records: Vec::new(),
                unreadable_lines: 0,
            },
            Ok(Some(bytes)) => {
                let (records, unreadable_lines) = read_audit_log(&String::from_utf8_lossy(&bytes));
                NodeLog::Read {
                    records,
                    unreadable_lines,
                }
            }
            Err(error) => NodeLog::Failed(error.to_string()),
        };
        (node.name.to_string(), log)
    });
    let mut merged = Vec::new();
    let mut problems = Vec::new();
    for (node, log) in logs {
        match log {
            NodeLog::Read {
                records,
                unreadable_lines,
            } => {
                if unreadable_lines > 0 {
                    problems.push((
                        node,
                        format!("{unreadable_lines} line(s) of its log are not records; skipped"),
                    ));
                }
                merged.push(records);
            }
            NodeLog::Failed(reason) => problems.push((node, reason)),
        }
    }
    let records = merge_audit_logs(merged);
    if json {
        let document = serde_json::json!({
            "format_version": 1,
            "cluster": cluster.name,
            "records": records,
            "problems": problems
                .iter()
                .map(|(node, reason)| serde_json::json!({"node": node, "reason": reason}))
                .collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).expect("history serializes")
        );
    } else {
        print!("{}", history_text(&records));
        for (node, reason) in &problems {
            eprintln!("{node}: {reason}");
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
