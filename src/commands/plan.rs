//! `mirrorset plan` and `mirrorset show`: gather every node, compute the
//! desired state and the plan, print it (text or JSON), save it on request.
//! Never changes a node. I/O.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use super::cluster_files;
use crate::config;
use crate::desired::{Desired, desired};
use crate::facts::gather;
use crate::model::TlsMaterial;
use crate::model::{Cluster, Secret};
use crate::plan::{
    Finding, FindingCode, PLAN_FORMAT_VERSION, Plan, PlanSettings, plan as make_plan,
};
use crate::render::{Palette, ReportStyle, plan_text};
use crate::transport::AccessOptions;

pub struct PlanOptions {
    pub json: bool,
    pub out: Option<PathBuf>,
    pub detailed_exitcode: bool,
    pub target: Option<String>,
    pub settings: PlanSettings,
}

/// A plan with what it was made from, for the commands that act on it.
pub struct Planned {
    pub cluster: Cluster,
    pub passphrase: Secret<String>,
    pub tls: Option<TlsMaterial>,
    pub desired: Desired,
    pub plan: Plan,
}

/// Plans one cluster file: the pipeline of DESIGN.md section 3, up to the plan.
pub fn plan_cluster(
    path: &Path,
    options: &AccessOptions,
    target: Option<&glob::Pattern>,
    settings: PlanSettings,
) -> miette::Result<Planned> {
    let cluster = config::load(path)?;
    let passphrase =
        cluster.replication.passphrase.resolve().map_err(|error| {
            miette!(code = "secret::unavailable", "{}: {error}", path.display())
        })?;
    let tls = config::load_tls(&cluster)?;
    let desired = desired(&cluster, &passphrase, tls.as_ref());
    let plan = plan_loaded(
        &cluster,
        &passphrase,
        tls.as_ref(),
        &desired,
        options,
        target,
        settings,
    );
    Ok(Planned {
        cluster,
        passphrase,
        tls,
        desired,
        plan,
    })
}

/// Gathers the nodes and plans a cluster already loaded (apply plans
/// again this way after a start, with the file and secret it began with).
pub fn plan_loaded(
    cluster: &Cluster,
    passphrase: &Secret<String>,
    tls: Option<&TlsMaterial>,
    desired: &Desired,
    options: &AccessOptions,
    target: Option<&glob::Pattern>,
    settings: PlanSettings,
) -> Plan {
    let observed = gather(cluster, options);
    let mut plan = make_plan(cluster, desired, &observed, passphrase, settings);
    if let (Some(material), Some(days)) = (
        tls,
        cluster
            .replication
            .tls
            .as_ref()
            .map(|t| t.expiry_warning_days),
    ) {
        let now = x509_parser::prelude::ASN1Time::now();
        for (node, message) in config::expiry_warnings(material, days, now) {
            plan.warnings.push(Finding {
                code: FindingCode::CertificateExpiring,
                node: node.map(|n| n.to_string()),
                message,
            });
        }
    }
    if let Some(target) = target {
        crate::plan::only_targets(&mut plan, target);
    }
    plan
}

/// A plan saved with `plan --out`, and its text; refused when it is not one
/// or was written in another format version.
pub fn read_saved_plan(path: &Path) -> miette::Result<(Plan, String)> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let unreadable = |error: serde_json::Error| {
        miette!(
            code = "plan::unreadable",
            "{} is not a saved mirrorset plan: {error}",
            path.display()
        )
    };
    // The version first: a plan of another format fails to parse as this
    // one, and saying so is clearer than the field serde trips on.
    #[derive(serde::Deserialize)]
    struct Versioned {
        format_version: u32,
    }
    let versioned: Versioned = serde_json::from_str(&text).map_err(unreadable)?;
    if versioned.format_version != PLAN_FORMAT_VERSION {
        return Err(miette!(
            code = "plan::format_version",
            help = "make the plan again with this mirrorset",
            "{} is a plan of format {}, this mirrorset reads format {PLAN_FORMAT_VERSION}",
            path.display(),
            versioned.format_version
        ));
    }
    let plan: Plan = serde_json::from_str(&text).map_err(unreadable)?;
    crate::plan::check_schedule(&plan.schedule, plan.actions.len()).map_err(|problem| {
        miette!(
            code = "plan::schedule",
            help = "make the plan again; a saved plan is not to be edited",
            "{} has a schedule apply cannot follow: {problem}",
            path.display()
        )
    })?;
    Ok((plan, text))
}

pub fn plan(
    files: &[String],
    options: &PlanOptions,
    access: &AccessOptions,
) -> miette::Result<ExitCode> {
    let target = options
        .target
        .as_deref()
        .map(|glob| {
            glob::Pattern::new(glob)
                .map_err(|e| miette!(code = "cli::bad_glob", "--target {glob:?}: {e}"))
        })
        .transpose()?;
    let paths = cluster_files(files)?;
    if options.out.is_some() && paths.len() != 1 {
        return Err(miette!(
            code = "cli::out_needs_one_cluster",
            "--out saves one plan, but {} cluster files were given",
            paths.len()
        ));
    }
    let palette = Palette {
        color: ReportStyle::stdout_color(),
    };
    let (mut changes, mut refused) = (false, false);
    for (index, path) in paths.iter().enumerate() {
        let plan = plan_cluster(path, access, target.as_ref(), options.settings)?.plan;
        changes |= !plan.actions.is_empty();
        // Green means healthy: what stays wrong is an error, like a refusal.
        refused |= !plan.refusals.is_empty() || !plan.health.is_empty();
        if options.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).expect("a plan serializes")
            );
        } else {
            if index > 0 {
                println!();
            }
            print!("{}", plan_text(&plan, palette));
        }
        if let Some(out) = &options.out {
            let json = serde_json::to_string_pretty(&plan).expect("a plan serializes") + "\n";
            std::fs::write(out, json)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot save the plan to {}", out.display()))?;
            if !options.json {
                println!(
                    "\nSaved the plan to {}; `mirrorset show {}` shows it again.",
                    out.display(),
                    out.display()
                );
            }
        }
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else if changes && options.detailed_exitcode {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn show(path: &Path, json: bool) -> miette::Result<ExitCode> {
    let (plan, text) = read_saved_plan(path)?;
    if json {
        print!("{text}");
    } else {
        print!(
            "{}",
            plan_text(
                &plan,
                Palette {
                    color: ReportStyle::stdout_color()
                }
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}
