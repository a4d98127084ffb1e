//! Apply's progress as text, one line per step as it starts and ends: the
//! `Progress` sink apply reports to, so apply never knows the format; and
//! a stale saved plan's difference in words. Writes to stdout and stderr.

use std::io::Write;
use std::time::Duration;

use super::describe_action;
use crate::apply::Progress;
use crate::plan::{Action, Staleness};

/// Prints each step as it starts and ends.
pub struct TextProgress;

impl Progress for TextProgress {
    fn start(&self, number: usize, total: usize, action: &Action) {
        println!(
            "[{number}/{total}] {}: {} ...",
            action.node,
            describe_action(action)
        );
        std::io::stdout().flush().ok();
    }

    fn finish(
        &self,
        number: usize,
        total: usize,
        action: &Action,
        elapsed: Duration,
        note: Option<&str>,
    ) {
        let note = note.map(|n| format!("; {n}")).unwrap_or_default();
        println!(
            "[{number}/{total}] {}: done in {:.1}s{note}",
            action.node,
            elapsed.as_secs_f64()
        );
    }

    fn advance(&self, number: usize, total: usize, action: &Action, detail: &str) {
        println!("[{number}/{total}] {}: {detail}", action.node);
    }

    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    fn fail(&self, number: usize, total: usize, action: &Action, message: &str) {
        println!("[{number}/{total}] {}: FAILED: {message}", action.node);
        std::io::stdout().flush().ok();
    }
}

/// A saved plan's first difference from the plan made now, in words.
pub fn describe_staleness(staleness: &Staleness) -> String {
    match staleness {
        Staleness::StepChanged { number, saved, now } => format!(
            "step {number} was \"{}: {}\" and is now \"{}: {}\" ({})",
            saved.node,
            describe_action(saved),
            now.node,
            describe_action(now),
            now.reason
        ),
        Staleness::NewStep { number, now } => format!(
            "there is a new step {number}: {}: {}",
            now.node,
            describe_action(now)
        ),
        Staleness::FewerSteps { saved, now } => {
            format!("the saved plan has {saved} steps, only {now} are needed now")
        }
        Staleness::ScheduleChanged => {
            "the steps are the same, but the saved plan runs them in another order or together"
                .to_owned()
        }
    }
}
