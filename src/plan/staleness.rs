//! Whether a saved plan is still the plan: its actions against those made
//! now, the first difference as data (`render` words it). Pure.

use super::action::{Action, Plan};

/// The first way a saved plan differs from the plan made now.
#[derive(Debug, Clone, PartialEq)]
pub enum Staleness {
    /// Step `number` (1-based) is another action now.
    StepChanged {
        number: usize,
        saved: Box<Action>,
        now: Box<Action>,
    },
    /// The plan now has a step the saved one lacks.
    NewStep { number: usize, now: Box<Action> },
    /// The saved plan has more steps than are needed now.
    FewerSteps { saved: usize, now: usize },
    /// The same steps, run in another order or with other steps at once.
    ScheduleChanged,
}

pub fn staleness(saved: &Plan, now: &Plan) -> Option<Staleness> {
    for (index, (old, new)) in saved.actions.iter().zip(&now.actions).enumerate() {
        if old != new {
            return Some(Staleness::StepChanged {
                number: index + 1,
                saved: Box::new(old.clone()),
                now: Box::new(new.clone()),
            });
        }
    }
    match saved.actions.len().cmp(&now.actions.len()) {
        std::cmp::Ordering::Equal if saved.schedule != now.schedule => {
            Some(Staleness::ScheduleChanged)
        }
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => Some(Staleness::NewStep {
            number: saved.actions.len() + 1,
            now: Box::new(now.actions[saved.actions.len()].clone()),
        }),
        std::cmp::Ordering::Greater => Some(Staleness::FewerSteps {
            saved: saved.actions.len(),
            now: now.actions.len(),
        }),
    }
}
