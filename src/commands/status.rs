//! `mirrorset status`: gathers every node and shows its replication state,
//! with whether `plan` would change it. I/O.

use std::process::ExitCode;

use super::one_cluster;
use crate::desired::desired;
use crate::facts::gather;
use crate::model::Secret;
use crate::plan::plan as make_plan;
use crate::render::{status_rows, status_text};
use crate::transport::AccessOptions;

pub fn status(file: &str, json: bool, access: &AccessOptions) -> miette::Result<ExitCode> {
    let cluster = one_cluster(file)?;
    let observed = gather(&cluster, access);
    // Without the passphrase, status still shows everything, and what is
    // wrong, but not whether plan would change a node: the plan made with a
    // stand-in passphrase gives its findings (none depends on the secret,
    // but which steps would repair a mirror does, and status judges
    // streaming from the facts itself), never its steps.
    let resolved = cluster.replication.passphrase.resolve().ok();
    let changes_known = resolved.is_some();
    let passphrase = resolved.unwrap_or_else(|| Secret::new(String::new()));
    let plan = make_plan(
        &cluster,
        &desired(
            &cluster,
            &passphrase,
            crate::config::load_tls(&cluster).ok().flatten().as_ref(),
        ),
        &observed,
        &passphrase,
        crate::plan::PlanSettings::default(),
    );
    let rows = status_rows(&cluster, &observed, &plan, changes_known);
    // Green means healthy: every node what the file says, nothing to do.
    let healthy = rows.iter().all(|row| row.healthy)
        && plan.refusals.is_empty()
        && (!changes_known || plan.is_green());
    if json {
        let document = serde_json::json!({
            "format_version": 1,
            "cluster": cluster.name,
            "healthy": healthy,
            "nodes": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).expect("status serializes")
        );
    } else {
        print!("{}", status_text(&cluster, &rows));
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
