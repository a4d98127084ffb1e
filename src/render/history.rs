//! The merged audit history as a table: time, node, plan, step, result,
//! what and why. Pure.

use super::table::table;
use crate::apply::AuditRecord;

pub fn history_text(records: &[AuditRecord]) -> String {
    if records.is_empty() {
        return "No apply has run on these nodes yet.\n".to_owned();
    }
    let mut rows = Vec::new();
    for record in records {
        let result = if record.detail.is_empty() {
            record.result.clone()
        } else {
            format!("{}: {}", record.result, record.detail)
        };
        rows.push(vec![
            record.time.clone(),
            record.node.clone(),
            record.plan.clone(),
            record.step.to_string(),
            result,
            format!("{} {}", record.change.marker(), record.action),
            record.reason.clone(),
        ]);
    }
    table(
        &["TIME", "NODE", "PLAN", "STEP", "RESULT", "ACTION", "REASON"],
        &rows,
    )
}
