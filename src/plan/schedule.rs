//! When each step of a plan runs, as data apply follows: in, the plan's
//! actions in order; out, stages in order, each stage's lanes at once and
//! each lane's steps in order. Mirrors being cloned get a lane each (a
//! clone takes minutes, everything else is quick); a `Replan` step stands
//! alone, since what follows it is planned again. Pure.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::action::{Action, ActionKind};

/// Steps that run together: the lanes at once, each lane's steps (1-based
/// step numbers) in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stage {
    pub lanes: Vec<Vec<usize>>,
}

pub fn schedule(actions: &[Action]) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    // The stage being filled with steps one after another, if any.
    let mut sequence: Vec<usize> = Vec::new();
    let mut index = 0;
    while index < actions.len() {
        let lanes = clone_lanes(actions, index);
        let alone = actions[index].kind == ActionKind::Replan;
        if lanes.len() > 1 || alone {
            if !sequence.is_empty() {
                stages.push(Stage {
                    lanes: vec![std::mem::take(&mut sequence)],
                });
            }
            let lanes = if alone { vec![vec![index + 1]] } else { lanes };
            index += lanes.iter().map(Vec::len).sum::<usize>();
            stages.push(Stage { lanes });
        } else {
            sequence.push(index + 1);
            index += 1;
        }
    }
    if !sequence.is_empty() {
        stages.push(Stage {
            lanes: vec![sequence],
        });
    }
    stages
}

/// From `start`: the consecutive runs of one node's steps that each hold a
/// clone, as step numbers; fewer than two means nothing to run at once.
fn clone_lanes(actions: &[Action], start: usize) -> Vec<Vec<usize>> {
    let mut lanes = Vec::new();
    let mut at = start;
    while at < actions.len() {
        let node = &actions[at].node;
        let end = actions[at..]
            .iter()
            .position(|action| &action.node != node)
            .map_or(actions.len(), |n| at + n);
        let run = &actions[at..end];
        if !run
            .iter()
            .any(|action| matches!(action.kind, ActionKind::Clone { .. }))
            || run.iter().any(|action| action.kind == ActionKind::Replan)
        {
            break;
        }
        lanes.push((at + 1..=end).collect());
        at = end;
    }
    lanes
}

/// Whether `schedule` runs each of `steps` steps exactly once, no step
/// before one numbered lower in an earlier stage or in its lane: what
/// apply requires of a saved plan's schedule.
pub fn check(schedule: &[Stage], steps: usize) -> Result<(), String> {
    let mut seen = vec![false; steps];
    let mut before_stage = 0;
    for (index, stage) in schedule.iter().enumerate() {
        let mut highest = before_stage;
        for lane in &stage.lanes {
            let mut previous = before_stage;
            for &number in lane {
                if number == 0 || number > steps {
                    return Err(format!(
                        "stage {} names step {number}, which the plan lacks",
                        index + 1
                    ));
                }
                if std::mem::replace(&mut seen[number - 1], true) {
                    return Err(format!("step {number} is scheduled twice"));
                }
                if number <= previous {
                    return Err(format!("step {number} is scheduled before an earlier one"));
                }
                previous = number;
                highest = highest.max(number);
            }
        }
        before_stage = highest;
    }
    match seen.iter().position(|seen| !seen) {
        Some(missing) => Err(format!("step {} is not scheduled", missing + 1)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeName;
    use crate::plan::{Change, Precondition};

    fn action(node: &str, kind: ActionKind) -> Action {
        Action {
            node: NodeName::new(node).unwrap(),
            change: Change::Step,
            kind,
            cause: crate::plan::Cause::Reload,
            reason: String::new(),
            precondition: Precondition::None,
        }
    }

    fn clone(node: &str) -> Action {
        action(
            node,
            ActionKind::Clone {
                from_node: "db1".into(),
                from_host: "10.0.0.1".into(),
                from_port: 5432,
                slot: node.into(),
                data_dir: "/data".into(),
                move_aside: false,
            },
        )
    }

    fn lanes(schedule: &[Stage]) -> Vec<Vec<Vec<usize>>> {
        schedule.iter().map(|stage| stage.lanes.clone()).collect()
    }

    #[test]
    fn clones_of_two_mirrors_run_at_once_and_the_rest_in_order() {
        let actions = [
            action("db1", ActionKind::Reload),
            clone("db2"),
            action("db2", ActionKind::Start),
            clone("db3"),
            action("db3", ActionKind::Start),
            action("db1", ActionKind::Reload),
            action("db2", ActionKind::Reload),
        ];
        let schedule = schedule(&actions);
        assert_eq!(
            lanes(&schedule),
            [
                vec![vec![1]],
                vec![vec![2, 3], vec![4, 5]],
                vec![vec![6, 7]]
            ]
        );
        assert_eq!(check(&schedule, actions.len()), Ok(()));
    }

    #[test]
    fn one_clone_or_none_runs_in_order_and_a_replan_stands_alone() {
        let actions = [
            clone("db2"),
            action("db2", ActionKind::Start),
            action("db1", ActionKind::Replan),
            action("db1", ActionKind::Reload),
        ];
        assert_eq!(
            lanes(&schedule(&actions)),
            [vec![vec![1, 2]], vec![vec![3]], vec![vec![4]]]
        );
        assert!(schedule(&[]).is_empty());
    }

    #[test]
    fn a_schedule_that_skips_repeats_or_reorders_steps_is_refused() {
        let stage = |lanes: &[&[usize]]| Stage {
            lanes: lanes.iter().map(|lane| lane.to_vec()).collect(),
        };
        assert_eq!(check(&[stage(&[&[1, 2], &[3]])], 3), Ok(()));
        assert_eq!(
            check(&[stage(&[&[1, 2]])], 3),
            Err("step 3 is not scheduled".into())
        );
        assert_eq!(
            check(&[stage(&[&[1, 2]]), stage(&[&[2, 3]])], 3),
            Err("step 2 is scheduled twice".into())
        );
        assert_eq!(
            check(&[stage(&[&[2, 1]])], 2),
            Err("step 1 is scheduled before an earlier one".into())
        );
        assert_eq!(
            check(&[stage(&[&[2]]), stage(&[&[1]])], 2),
            Err("step 1 is scheduled before an earlier one".into())
        );
        assert_eq!(
            check(&[stage(&[&[1, 4]])], 2),
            Err("stage 1 names step 4, which the plan lacks".into())
        );
    }
}
