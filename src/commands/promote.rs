//! `mirrorset promote NODE FILE`: sets `[cluster] primary` in the cluster
//! file, changing no other byte, then plans (the change is reviewed and
//! committed like any other; `apply` does the switchover). Writes the
//! cluster file; reads the nodes.

use std::path::Path;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use super::{one_cluster_file, plan};
use crate::config;
use crate::model::{NodeName, NodeState};
use crate::plan::PlanSettings;
use crate::transport::AccessOptions;

pub fn promote(
    node: &str,
    file: &str,
    then_plan: Option<PlanSettings>,
    access: &AccessOptions,
) -> miette::Result<ExitCode> {
    let path = one_cluster_file(file)?;
    let text = std::fs::read_to_string(&path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let cluster = config::parse(&path, text.clone())?;
    let names = || {
        cluster
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = NodeName::new(node)
        .ok()
        .and_then(|name| cluster.node(&name))
        .ok_or_else(|| {
            miette!(
                code = "promote::unknown_node",
                help = format!("the nodes of {} are {}", path.display(), names()),
                "{} has no node {node:?}",
                path.display()
            )
        })?;
    if wanted.state != NodeState::Member {
        return Err(miette!(
            code = "promote::not_a_member",
            help = "set its state to \"member\" (and apply) first: it must be a mirror to become primary",
            "{node} is not a member of cluster {} (state = \"{}\")",
            cluster.name,
            wanted.state
        ));
    }
    if cluster.primary == wanted.name {
        println!("{node} is already the primary in {}.", path.display());
    } else {
        let edited = config::with_primary(&text, node)
            .map_err(|e| miette!(code = "promote::edit", "{}: {e}", path.display()))?;
        config::parse(&path, edited.clone())?;
        write_beside(&path, &edited)?;
        println!(
            "Edited {}: primary = \"{node}\" (was \"{}\"); nothing else in the file changed.\n\
             Review the plan, commit the change, then run `mirrorset apply {}`.",
            path.display(),
            cluster.primary,
            path.display()
        );
    }
    let Some(settings) = then_plan else {
        return Ok(ExitCode::SUCCESS);
    };
    println!();
    plan::plan(
        &[path.display().to_string()],
        &plan::PlanOptions {
            json: false,
            out: None,
            detailed_exitcode: false,
            target: None,
            settings,
        },
        access,
    )
}

/// Replaces the file atomically (a temporary file beside it, then rename),
/// keeping its permissions; the old content stays in version control.
fn write_beside(path: &Path, text: &str) -> miette::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.mirrorset-{}", std::process::id()));
    let result = (|| {
        std::fs::write(&temp, text)?;
        let permissions = std::fs::metadata(path)?.permissions();
        std::fs::set_permissions(&temp, permissions)?;
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}
