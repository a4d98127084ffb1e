//! `mirrorset check` results as a table with the problems under it, or as
//! JSON; both from the same probes. Pure.

use serde::Serialize;

use super::table::table;
use crate::facts::{NodeProbe, ObservedRole};
use crate::model::ClusterName;

/// The JSON document of `mirrorset check --json`.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    /// Bumped when a field changes meaning or disappears.
    pub format_version: u32,
    pub cluster: &'a ClusterName,
    pub ok: bool,
    pub nodes: &'a [NodeProbe],
}

pub fn check_json(cluster: &ClusterName, probes: &[NodeProbe]) -> String {
    let report = CheckReport {
        format_version: 1,
        cluster,
        ok: probes.iter().all(NodeProbe::ok),
        nodes: probes,
    };
    let mut json = serde_json::to_string_pretty(&report).expect("a report always serializes");
    json.push('\n');
    json
}

fn role_name(role: Option<ObservedRole>) -> &'static str {
    match role {
        Some(ObservedRole::Primary) => "primary",
        Some(ObservedRole::Standby) => "standby",
        Some(ObservedRole::Stopped) => "stopped",
        Some(ObservedRole::Starting) => "starting",
        Some(ObservedRole::Empty) => "empty",
        Some(ObservedRole::Foreign) => "not postgres",
        None => "-",
    }
}

pub fn check_text(cluster: &ClusterName, probes: &[NodeProbe]) -> String {
    let rows: Vec<Vec<String>> = probes
        .iter()
        .map(|probe| {
            let status = match (probe.contacted, probe.ok()) {
                (false, _) => "skip",
                (true, true) => "ok",
                (true, false) => "FAIL",
            };
            let yes_no = |value: Option<bool>, yes: &str, no: &str| match value {
                Some(true) => yes.to_owned(),
                Some(false) => no.to_owned(),
                None => "-".to_owned(),
            };
            vec![
                status.to_owned(),
                probe.name.to_string(),
                probe.host.clone(),
                probe.wanted.to_owned(),
                if !probe.contacted {
                    "not contacted".to_owned()
                } else {
                    yes_no(Some(probe.reachable), "ok", "failed")
                },
                probe
                    .postgres_version
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                yes_no(probe.running, "running", "not running"),
                role_name(probe.role).to_owned(),
                yes_no(probe.reaches_primary, "yes", "NO"),
            ]
        })
        .collect();
    let mut out = format!("cluster {cluster}\n\n");
    out.push_str(&table(
        &[
            "",
            "NODE",
            "HOST",
            "WANTED",
            "ACCESS",
            "POSTGRES",
            "SERVER",
            "ROLE",
            "REACHES PRIMARY",
        ],
        &rows,
    ));
    for probe in probes.iter().filter(|probe| !probe.ok()) {
        out.push('\n');
        for problem in &probe.problems {
            out.push_str(&format!("{}: {}\n", probe.name, problem.message));
            if let Some(help) = &problem.help {
                out.push_str(&format!("  help: {help}\n"));
            }
        }
    }
    let failed = probes.iter().filter(|probe| !probe.ok()).count();
    let checked = probes.iter().filter(|probe| probe.contacted).count();
    out.push('\n');
    if failed == 0 {
        out.push_str(&format!("All {checked} nodes are ready.\n"));
    } else {
        out.push_str(&format!("{failed} of {checked} nodes failed.\n"));
    }
    out
}
