//! `mirrorset apply` and `mirrorset force-unlock`: plan (or re-check a saved
//! plan), confirm, execute, summarise. I/O.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use miette::{IntoDiagnostic, miette};

use super::plan::{Planned, plan_cluster, plan_loaded, read_saved_plan};
use super::{one_cluster, one_cluster_file};
use crate::apply::{self, ApplyOptions};
use crate::plan::{Plan, sha256_bytes};
use crate::render::{
    Palette, ReportStyle, TextProgress, describe_action, describe_staleness, plan_text,
};
use crate::transport::{self, AccessOptions, DEFAULT_CONCURRENCY, fan_out};

pub struct ApplyArgs {
    pub auto_approve: bool,
    /// Promote although the old primary cannot be stopped first.
    pub allow_failover: bool,
    pub lock_timeout: Duration,
    pub wait_timeout: Duration,
}

/// Says what apply left unhealthy because no step of its can repair it
/// (a mirror a rule of the operator's rejects, say): apply did what it
/// planned, and plan, status and check keep saying the cluster is not green.
fn still_unhealthy(plan: &Plan) {
    if !plan.health.is_empty() {
        println!(
            "\nThe cluster is not healthy: apply cannot repair the {} finding{} under \"Unhealthy\" in the plan.",
            plan.health.len(),
            if plan.health.len() == 1 { "" } else { "s" }
        );
    }
}

/// The first SIGINT or SIGTERM sets `interrupted`: the running steps
/// finish (a switchover goes on until a primary takes writes), then apply
/// stops and releases its locks. A second one stops at once.
fn watch_signals(interrupted: Arc<AtomicBool>) -> miette::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).into_diagnostic()?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if interrupted.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "\nmirrorset: stopped at once by a second signal: the step that was running may be half done \
                     (a clone it ran ends on its node with this process), and its locks stay (the next apply \
                     from this machine takes them; `mirrorset force-unlock` removes them); run apply again"
                );
                std::process::exit(130);
            }
            eprintln!(
                "\nmirrorset: interrupted: the running step finishes, then apply stops and releases its locks; \
                 a second signal stops at once"
            );
        }
    });
    Ok(handle)
}

/// Asks for `yes` on the terminal; Err without one.
fn confirm(question: &str) -> miette::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            code = "apply::no_terminal",
            help = "review the plan, then pass --auto-approve, or save it with `plan --out` and apply that file",
            "apply needs a terminal to ask for confirmation"
        ));
    }
    print!("{question} Only 'yes' is accepted: ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .into_diagnostic()?;
    Ok(answer.trim() == "yes")
}

fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

pub fn apply(target: &str, args: &ApplyArgs, access: &AccessOptions) -> miette::Result<ExitCode> {
    apply_showing(target, args, access, true)
}

/// Apply without printing the plan first (the demo printed it already).
pub fn apply_quietly(
    target: &str,
    args: &ApplyArgs,
    access: &AccessOptions,
) -> miette::Result<ExitCode> {
    apply_showing(target, args, access, false)
}

fn apply_showing(
    target: &str,
    args: &ApplyArgs,
    access: &AccessOptions,
    show: bool,
) -> miette::Result<ExitCode> {
    let saved: Option<Plan> = if target.ends_with(".json") && Path::new(target).is_file() {
        Some(read_saved_plan(Path::new(target))?.0)
    } else {
        None
    };
    let path = match &saved {
        Some(plan) => one_cluster_file(&plan.file)?,
        None => one_cluster_file(target)?,
    };
    let Planned {
        cluster,
        passphrase,
        tls,
        desired,
        plan,
    } = plan_cluster(
        &path,
        access,
        None,
        crate::plan::PlanSettings {
            allow_failover: args.allow_failover,
            ..Default::default()
        },
    )?;
    let palette = Palette {
        color: ReportStyle::stdout_color(),
    };
    if let Some(saved) = &saved {
        if let Some(difference) =
            crate::plan::staleness(saved, &plan).map(|s| describe_staleness(&s))
        {
            return Err(miette!(
                code = "apply::stale_plan",
                help = "run `mirrorset plan --out` again, review it, and apply the new plan",
                "the saved plan {target} is stale: the nodes changed since it was made; {difference}"
            ));
        }
    } else if show {
        print!("{}", plan_text(&plan, palette));
    }
    if !plan.may_apply() {
        let blocking = plan
            .health
            .iter()
            .filter(|f| f.issue.blocks_apply())
            .count();
        return Err(miette!(
            code = "apply::refused",
            "apply refused: {} problem(s) above must be resolved first",
            plan.refusals.len() + blocking
        ));
    }
    if plan.actions.is_empty() {
        if saved.is_some() && plan.health.is_empty() {
            println!("No changes: the cluster matches the file.");
        }
        still_unhealthy(&plan);
        return Ok(ExitCode::SUCCESS);
    }
    let ask = saved.is_none() && !args.auto_approve;
    if ask
        && !confirm(&format!(
            "\nApply these {} steps to cluster {}?",
            plan.actions.len(),
            cluster.name
        ))?
    {
        println!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::FAILURE);
    }
    let plan_json = serde_json::to_string(&plan).expect("a plan serializes");
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = watch_signals(Arc::clone(&interrupted))?;
    let options = ApplyOptions {
        interrupted,
        access: access.clone(),
        lock_timeout: args.lock_timeout,
        wait_timeout: args.wait_timeout,
        operator: operator(),
        plan_id: sha256_bytes(plan_json.as_bytes())[..12].to_owned(),
    };
    println!();
    let settings = crate::plan::PlanSettings {
        allow_failover: args.allow_failover,
        primary_just_started: true,
    };
    let replan = || -> Result<Plan, apply::ApplyError> {
        let failed = |message: String| apply::ApplyError::Failed {
            node: cluster.primary.clone(),
            message,
        };
        if saved.is_some() && !args.auto_approve {
            // What a saved plan did not show is not done without a review.
            return Err(failed(
                "it runs again; the rest of the plan could not be known when it was saved: \
                 run `mirrorset plan --out` again, review it, and apply that"
                    .into(),
            ));
        }
        let again = plan_loaded(
            &cluster,
            &passphrase,
            tls.as_ref(),
            &desired,
            access,
            None,
            settings,
        );
        println!("\nRead every node again; the rest of the plan:");
        print!("{}", plan_text(&again, palette));
        if !again.may_apply() {
            return Err(failed(
                "the rest of the plan is refused (see above); nothing more was changed".into(),
            ));
        }
        if ask
            && !again.actions.is_empty()
            && !confirm(&format!(
                "\nApply these {} further steps?",
                again.actions.len()
            ))
            .map_err(|error| failed(error.to_string()))?
        {
            return Err(failed(
                "cancelled; the steps above were not done, those before were".into(),
            ));
        }
        println!();
        Ok(again)
    };
    let applied = apply::apply(
        &cluster,
        &desired,
        &plan,
        &passphrase,
        &options,
        &TextProgress,
        &replan,
    );
    signals.close();
    match applied {
        Err(apply::ApplyError::Interrupted { done }) => {
            let left: Vec<String> = plan
                .actions
                .iter()
                .enumerate()
                .filter(|(index, _)| !done.contains(&(index + 1)))
                .map(|(index, action)| {
                    format!(
                        "  [{}] {}: {}",
                        index + 1,
                        action.node,
                        describe_action(action)
                    )
                })
                .collect();
            println!(
                "\nApply interrupted: {} of {} steps done, every lock released. Not done:\n{}\nRun apply again: it plans only what is left.",
                done.len(),
                plan.actions.len(),
                left.join("\n")
            );
            Ok(ExitCode::from(130))
        }
        Ok(report) => {
            if let (Some(promotion), Some(refused)) = (&plan.promotion, report.writes_refused) {
                match promotion.kind {
                    crate::plan::PromotionKind::Switchover => println!(
                        "\n{} is the primary; no server took writes for {:.2} s (steps {} to {}).",
                        promotion.to,
                        refused.as_secs_f64(),
                        promotion.writes_stop_at,
                        promotion.writes_resume_after
                    ),
                    crate::plan::PromotionKind::Failover => println!(
                        "\n{} is the primary; its promotion took {:.2} s.",
                        promotion.to,
                        refused.as_secs_f64()
                    ),
                }
            }
            let summary = &plan.summary;
            println!(
                "\nApply complete: {} added, {} changed, {} removed; {} restart{}.",
                summary.add,
                summary.change,
                summary.remove,
                summary.restarts,
                if summary.restarts == 1 { "" } else { "s" }
            );
            still_unhealthy(&plan);
            Ok(ExitCode::SUCCESS)
        }
        Err(
            error @ (apply::ApplyError::Locked { .. } | apply::ApplyError::WaitedForLock { .. }),
        ) => {
            eprintln!("\nNo step ran: nothing was changed, and every lock taken was released.");
            Err(error.into())
        }
        Err(error) => {
            eprintln!(
                "\nApply stopped: the step that failed and those after it were not done; \
                 every earlier step was. Fix the cause and run apply again: it plans only what is left."
            );
            Err(error.into())
        }
    }
}

pub fn force_unlock(file: &str, access: &AccessOptions) -> miette::Result<ExitCode> {
    let cluster = one_cluster(file)?;
    let nodes: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|n| n.state != crate::model::NodeState::Absent)
        .collect();
    let results = fan_out(&nodes, DEFAULT_CONCURRENCY, |node| {
        let transport = transport::open(node, access)?;
        apply::force_unlock(&*transport, node)
    });
    let mut failed = false;
    for (node, result) in nodes.iter().zip(results) {
        match result {
            Ok(Some(holder)) => {
                println!("{}: removed the lock held by {}", node.name, holder.holder)
            }
            Ok(None) => println!("{}: not locked", node.name),
            Err(error) => {
                failed = true;
                eprintln!("{error}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
