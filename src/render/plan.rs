//! A plan for people: a block per node with numbered actions in execution
//! order, unified diffs of files, SQL with the password as (sensitive),
//! warnings, refusals and the summary line. Rendered from the same `Plan`
//! that `--json` prints. Pure.

use similar::TextDiff;

use crate::plan::{
    Action, ActionKind, Change, Finding, Plan, Promotion, PromotionKind, RoleNow, RoleWanted,
};

/// ANSI colours, or none: off a terminal and with NO_COLOR.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub color: bool,
}

impl Palette {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn for_change(self, change: Change, text: &str) -> String {
        match change {
            Change::Add => self.paint("32", text),
            Change::Change => self.paint("33", text),
            Change::Remove | Change::Replace => self.paint("31", text),
            Change::Step => self.paint("36", text),
        }
    }
}

/// One line saying what an action does, as plan and apply show it.
pub fn describe_action(action: &Action) -> String {
    match &action.kind {
        ActionKind::WriteFile {
            path,
            mode,
            secret: Some(_),
            ..
        } => format!("write {path} (sensitive, mode {mode:04o})"),
        ActionKind::WriteFile { path, .. } => format!("write {path}"),
        ActionKind::Clone {
            from_node,
            from_host,
            from_port,
            slot,
            data_dir,
            move_aside,
        } => format!(
            "{}clone {data_dir} from {from_node} ({from_host}:{from_port}) with slot {slot}: pg_basebackup -X stream -c fast",
            if *move_aside {
                format!("move {data_dir} aside, then ")
            } else {
                String::new()
            }
        ),
        ActionKind::WriteStandbySignal { path } => format!("write {path}"),
        ActionKind::Reload => "reload".to_owned(),
        ActionKind::Restart { .. } => "restart".to_owned(),
        ActionKind::Start => "start".to_owned(),
        ActionKind::Stop => "stop (fast shutdown)".to_owned(),
        ActionKind::WaitReceived { from_node } => {
            format!(
                "wait until everything {from_node} wrote, its shutdown checkpoint included, is received"
            )
        }
        ActionKind::Promote => "promote: SELECT pg_promote(wait => false), then wait until pg_is_in_recovery() is false".to_owned(),
        ActionKind::Rewind {
            from_node,
            from_host,
            from_port,
            data_dir,
        } => format!("pg_rewind {data_dir} from {from_node} ({from_host}:{from_port})"),
        ActionKind::WaitStreaming { upstream } => format!("wait until streaming from {upstream}"),
        ActionKind::Replan => "read every node again, then plan and show the rest".to_owned(),
        ActionKind::RemoveFile { path, what } => format!("remove {path} ({what})"),
        ActionKind::SyncFile {
            from_node,
            from_path,
            path,
            sha256,
            size,
            mode,
            owner,
            sensitive,
        } => format!(
            "copy {from_node}:{from_path} to {path} ({size} bytes, sha256 {}…, mode {mode:04o}, owner {owner}{})",
            &sha256[..sha256.len().min(12)],
            if *sensitive { ", sensitive" } else { "" }
        ),
        ActionKind::RunHook {
            hook,
            argv,
            old_role,
            new_role,
        } => format!(
            "hook {hook} ({old_role} -> {new_role}): {}",
            quoted(argv)
        ),
        ActionKind::Fence {
            argv,
            old_node,
            old_host,
        } => format!(
            "fence {old_node} ({old_host}) from this machine: {}",
            quoted(argv)
        ),
        ActionKind::RetireRole {
            user,
            owned_objects,
        } => format!(
            "role {user}: {}{}",
            action.kind.sql_preview().unwrap_or_default(),
            match owned_objects {
                0 => String::new(),
                n => format!(" (it owns {n} objects, so it is kept)"),
            }
        ),
        ActionKind::EnsureRole { user, .. } => format!(
            "role {user}: {}",
            action.kind.sql_preview().unwrap_or_default()
        ),
        other => format!("sql: {}", other.sql_preview().unwrap_or_default()),
    }
}

/// An argv as a shell would read it back, each word quoted when it must be.
fn quoted(argv: &[String]) -> String {
    argv.iter()
        .map(|word| crate::transport::shell_quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

fn diff(before: Option<&str>, after: &str, palette: Palette) -> String {
    let before = before.unwrap_or("");
    let text_diff = TextDiff::from_lines(before, after);
    let mut out = String::new();
    for hunk in text_diff.unified_diff().context_radius(2).iter_hunks() {
        out.push_str(&format!(
            "        {}\n",
            palette.paint("36", &hunk.header().to_string())
        ));
        for change in hunk.iter_changes() {
            let (sign, code) = match change.tag() {
                similar::ChangeTag::Delete => ("-", "31"),
                similar::ChangeTag::Insert => ("+", "32"),
                similar::ChangeTag::Equal => (" ", ""),
            };
            let line = format!("{sign}{}", change.value().trim_end_matches('\n'));
            let line = if code.is_empty() {
                line
            } else {
                palette.paint(code, &line)
            };
            out.push_str(&format!("        {line}\n"));
        }
    }
    out
}

/// A titled list of findings, each with its node; nothing when there are none.
fn findings(out: &mut String, title: &str, marker: String, list: &[Finding]) {
    if list.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title}:\n"));
    for finding in list {
        let node = finding
            .node
            .as_deref()
            .map(|n| format!("{n}: "))
            .unwrap_or_default();
        out.push_str(&format!("  {marker} {node}{}\n", finding.message));
    }
}

/// The write-unavailability of a switchover as measured by
/// bench/switchover.sh (median of 5 on loopback), to set expectations.
const SWITCHOVER_WINDOW: &str = "150 ms";

/// A change of primary in one list, in execution order, with the steps
/// between which the cluster takes no writes.
fn promotion_order(out: &mut String, plan: &Plan, promotion: &Promotion, palette: Palette) {
    let kind = match promotion.kind {
        PromotionKind::Switchover => "Switchover",
        PromotionKind::Failover => "Failover",
    };
    out.push_str(&format!(
        "\n{} {} -> {}, in this order:\n",
        palette.paint("1", kind),
        promotion.from.as_deref().unwrap_or("?"),
        promotion.to
    ));
    for (index, action) in plan.actions.iter().enumerate() {
        let number = index + 1;
        let outage = if (promotion.writes_stop_at..=promotion.writes_resume_after).contains(&number)
        {
            palette.paint("31", " |")
        } else {
            "  ".to_owned()
        };
        out.push_str(&format!(
            "  {outage}[{number}] {}: {}\n",
            action.node,
            describe_action(action)
        ));
    }
    out.push_str(&match promotion.kind {
        PromotionKind::Switchover => format!(
            "  Writes are refused from step {} until step {} is done (marked |); on loopback that took a median of {SWITCHOVER_WINDOW}.\n",
            promotion.writes_stop_at, promotion.writes_resume_after
        ),
        PromotionKind::Failover => format!(
            "  No server takes writes until step {} is done (marked |).\n",
            promotion.writes_resume_after
        ),
    });
}

pub fn plan_text(plan: &Plan, palette: Palette) -> String {
    let mut out = format!("Plan for cluster {} ({})\n", plan.cluster, plan.file);
    let numbered: Vec<(usize, &Action)> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (i + 1, a))
        .collect();
    for node in &plan.nodes {
        let actions: Vec<&(usize, &Action)> = numbered
            .iter()
            .filter(|(_, a)| a.node.as_str() == node.name)
            .collect();
        out.push_str(&format!(
            "\n{} {}: {} -> {}",
            palette.paint("1", &node.name),
            node.host,
            role_now(&node.actual),
            role_wanted(&node.desired)
        ));
        if actions.is_empty() {
            out.push_str("  (no changes)\n");
            continue;
        }
        out.push('\n');
        for (number, action) in actions {
            let marker = palette.for_change(action.change, action.change.marker());
            out.push_str(&format!(
                "  [{number}] {marker} {}\n",
                describe_action(action)
            ));
            out.push_str(&format!("        {}\n", action.reason));
            if let ActionKind::WriteFile {
                before,
                after: Some(after),
                secret: None,
                ..
            } = &action.kind
            {
                out.push_str(&diff(before.as_deref(), after, palette));
            }
        }
    }
    if let Some(promotion) = &plan.promotion {
        promotion_order(&mut out, plan, promotion, palette);
    }
    findings(
        &mut out,
        "Warnings",
        palette.paint("33", "!"),
        &plan.warnings,
    );
    findings(
        &mut out,
        "Refused",
        palette.paint("31", "x"),
        &plan.refusals,
    );
    if !plan.health.is_empty() {
        out.push_str("\nUnhealthy, and not repaired by this plan:\n");
        for finding in &plan.health {
            let marker = if finding.issue.blocks_apply() {
                palette.paint("31", "x")
            } else {
                palette.paint("31", "!")
            };
            out.push_str(&format!(
                "  {marker} {}: {} [{}]\n",
                finding.node,
                super::describe_health(&finding.issue),
                finding.issue.code()
            ));
        }
    }
    let summary = &plan.summary;
    if plan.actions.is_empty() && !plan.may_apply() {
        out.push_str("\nNo actions: resolve what was refused, then plan again.\n");
    } else if plan.actions.is_empty() && !plan.health.is_empty() {
        out.push_str("\nNo changes, but the cluster is not healthy: see above.\n");
    } else if plan.actions.is_empty() {
        out.push_str("\nNo changes: the cluster matches the file.\n");
    } else {
        out.push_str(&format!(
            "\nPlan: {} to add, {} to change, {} to remove; {} restart{}.\n",
            summary.add,
            summary.change,
            summary.remove,
            summary.restarts,
            if summary.restarts == 1 { "" } else { "s" }
        ));
        if !plan.may_apply() {
            out.push_str("apply refuses these steps until what is refused above is resolved.\n");
        }
    }
    out
}

/// What a node is now, in words.
fn role_now(role: &RoleNow) -> String {
    match role {
        RoleNow::NotContacted => "not contacted".to_owned(),
        RoleNow::Unreachable => "unreachable".to_owned(),
        RoleNow::Primary => "primary".to_owned(),
        RoleNow::Standalone => "standalone".to_owned(),
        RoleNow::Standby {
            upstream: Some(upstream),
        } => format!("standby of {upstream}"),
        RoleNow::Standby { upstream: None } => "standby, not streaming".to_owned(),
        RoleNow::Stopped => "stopped".to_owned(),
        RoleNow::NotPostgresql => "not PostgreSQL".to_owned(),
        RoleNow::DataDirUnreadable => "data directory unreadable".to_owned(),
        RoleNow::CloneInterrupted => "clone interrupted".to_owned(),
        RoleNow::Empty => "empty".to_owned(),
    }
}

/// What the file wants a node to be, in words.
fn role_wanted(role: &RoleWanted) -> String {
    match role {
        RoleWanted::Primary => "primary".to_owned(),
        RoleWanted::Mirror { of } => format!("mirror of {of}"),
        RoleWanted::Standalone => "standalone".to_owned(),
        RoleWanted::Absent => "absent".to_owned(),
    }
}
