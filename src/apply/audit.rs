//! One JSON line per action on the node it touched, in its state folder
//! (outside the data directory): when, who, which plan, what, and how it
//! ended. Never a secret: actions hold none, and errors are ours. I/O.

use serde::Serialize;

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
