//! `mirrorset validate`: a one-line summary per valid cluster file on
//! stdout, every problem of the others on stderr; exit 1 if any is invalid.
//! I/O: reads the files; never contacts a node.

use std::process::ExitCode;

use miette::Diagnostic;

use super::cluster_files;
use crate::config;
use crate::model::{Cluster, NodeState};
use crate::render::{ReportStyle, render_problems};

pub fn validate(args: &[String]) -> miette::Result<ExitCode> {
    let paths = cluster_files(args)?;
    let style = ReportStyle::for_stderr();
    let mut invalid_files = 0;
    let mut problem_count = 0;
    for path in &paths {
        match config::load(path) {
            Ok(cluster) => println!("{}: {}", path.display(), summary(&cluster)),
            Err(invalid) => {
                invalid_files += 1;
                problem_count += invalid.problems().len();
                eprint!(
                    "{}",
                    render_problems(
                        invalid.problems().iter().map(|p| p as &dyn Diagnostic),
                        style
                    )
                );
            }
        }
    }
    if invalid_files == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {invalid_files} of {} cluster file{} invalid ({problem_count} problem{})",
        paths.len(),
        if paths.len() == 1 { " is" } else { "s are" },
        if problem_count == 1 { "" } else { "s" },
    );
    Ok(ExitCode::FAILURE)
}

/// "cluster pam-prod: primary db1, 2 mirrors, 1 absent"
pub fn summary(cluster: &Cluster) -> String {
    let mirrors = cluster.mirrors().count();
    let mut line = format!(
        "cluster {}: primary {}, {mirrors} mirror{}",
        cluster.name,
        cluster.primary,
        if mirrors == 1 { "" } else { "s" }
    );
    for state in [NodeState::Standalone, NodeState::Absent] {
        let count = cluster
            .nodes
            .iter()
            .filter(|node| node.state == state)
            .count();
        if count > 0 {
            line.push_str(&format!(", {count} {state}"));
        }
    }
    line
}
