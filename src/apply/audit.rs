//! One JSON line per action on the node it touched, in its state folder
//! (outside the data directory): when, who, which plan, what, and how it
//! ended. Never a secret: actions hold none, and errors are ours. Writing
//! does I/O; reading the lines back and merging nodes' logs is pure.

use serde::{Deserialize, Serialize};

use super::Applier;
use crate::model::NodeName;
use crate::plan::Action;
use crate::transport::RemoteCommand;

pub const AUDIT_FILE: &str = "mirrorset-audit.jsonl";

#[derive(Serialize)]
struct Record<'a> {
    time: String,
    operator: &'a str,
    cluster: &'a str,
    plan: &'a str,
    step: usize,
    node: &'a str,
    change: crate::plan::Change,
    action: &'a str,
    reason: &'a str,
    result: &'a str,
    detail: &'a str,
}

impl Applier<'_> {
    pub(super) fn audit(
        &self,
        node: &NodeName,
        step: usize,
        action: &Action,
        ok: bool,
        detail: &str,
    ) {
        let Some(cluster_node) = self.cluster.node(node) else {
            return;
        };
        let kind = serde_json::to_value(&action.kind).ok();
        let kind = kind
            .as_ref()
            .and_then(|k| k.get("kind"))
            .and_then(|k| k.as_str())
            .unwrap_or("unknown");
        let record = Record {
            time: crate::transport::utc_stamp(),
            operator: &self.options.operator,
            cluster: self.cluster.name.as_str(),
            plan: &self.options.plan_id,
            step,
            node: node.as_str(),
            change: action.change,
            action: kind,
            reason: &action.reason,
            result: if ok { "ok" } else { "failed" },
            detail,
        };
        let mut line = serde_json::to_string(&record).expect("a record serializes");
        debug_assert!(serde_json::from_str::<AuditRecord>(&line).is_ok());
        line.push('\n');
        let path = format!("{}/{AUDIT_FILE}", cluster_node.postgres.state_dir);
        let command = RemoteCommand::new("sh")
            .args([
                "-c",
                r#"umask 077; mkdir -p -- "${1%/*}" && cat >> "$1""#,
                "mirrorset-audit",
                &path,
            ])
            .stdin(line.into_bytes());
        let written = self.session(node).transport.exec_as_postgres(command);
        if !written.as_ref().is_ok_and(|output| output.success()) {
            self.progress.warn(&format!(
                "{node}: could not append the audit record to {path}"
            ));
        }
    }
}

/// A line of an audit log as read back (what `Record` wrote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// UTC, sortable: 20261122T010203Z.
    pub time: String,
    pub operator: String,
    pub cluster: String,
    pub plan: String,
    pub step: usize,
    pub node: String,
    pub change: crate::plan::Change,
    pub action: String,
    pub reason: String,
    /// "ok" or "failed".
    pub result: String,
    #[serde(default)]
    pub detail: String,
}

/// The records of one node's log; a line that is not one (cut by a full
/// disk, say) is counted, not guessed.
pub fn read_audit_log(text: &str) -> (Vec<AuditRecord>, usize) {
    let mut unreadable = 0;
    let records = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let record = serde_json::from_str(line).ok();
            unreadable += usize::from(record.is_none());
            record
        })
        .collect();
    (records, unreadable)
}

/// Every node's records in one history, in time order; records of the same
/// second keep their plan's step order.
pub fn merge_audit_logs(logs: Vec<Vec<AuditRecord>>) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = logs.into_iter().flatten().collect();
    records.sort_by(|a, b| (&a.time, &a.plan, a.step).cmp(&(&b.time, &b.plan, b.step)));
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time: &str, plan: &str, step: usize, node: &str) -> String {
        format!(
            r#"{{"time":"{time}","operator":"ops@laptop","cluster":"c","plan":"{plan}","step":{step},"node":"{node}","change":"add","action":"write_file","reason":"r","result":"ok","detail":""}}"#
        )
    }

    #[test]
    fn logs_merge_in_time_then_step_order_and_broken_lines_are_counted() {
        let db1 = format!(
            "{}
{}
not json, cut by a full disk
",
            line("20261202T100000Z", "p1", 1, "db1"),
            line("20261202T100005Z", "p1", 4, "db1")
        );
        let db2 = format!(
            "{}
{}
",
            line("20261202T100000Z", "p1", 2, "db2"),
            line("20261201T090000Z", "p0", 7, "db2")
        );
        let (first, broken) = read_audit_log(&db1);
        assert_eq!((first.len(), broken), (2, 1));
        let (second, _) = read_audit_log(&db2);
        let merged = merge_audit_logs(vec![first, second]);
        let order: Vec<(String, usize)> = merged.iter().map(|r| (r.node.clone(), r.step)).collect();
        assert_eq!(
            order,
            [
                ("db2".into(), 7),
                ("db1".into(), 1),
                ("db2".into(), 2),
                ("db1".into(), 4)
            ]
        );
    }
}
