//! `--target`: a plan narrowed to the nodes a glob names, saying so first
//! (terraform's -target). Plan in, plan out. Pure.

use super::action::{Finding, FindingCode, Plan};

/// Keeps only the actions of nodes `target` matches, with a warning that
/// the others were not planned.
pub fn only_targets(plan: &mut Plan, target: &glob::Pattern) {
    plan.actions
        .retain(|action| target.matches(action.node.as_str()));
    let names: Vec<&str> = plan
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| target.matches(n))
        .collect();
    plan.warnings.insert(
        0,
        Finding {
            code: FindingCode::PartialTarget,
            node: None,
            message: format!(
                "--target {}: only {} planned; the other nodes may still differ from the file",
                target.as_str(),
                if names.is_empty() {
                    "no node".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        },
    );
    plan.summary = super::summarize(&plan.actions);
    plan.schedule = super::schedule::schedule(&plan.actions);
}
