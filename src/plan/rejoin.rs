//! How a mirror with existing data joins: it streams as it is, is rewound,
//! or is cloned anew, or must not be touched. Pure.

use super::action::{Change, FindingCode, Precondition};
use super::compute::unreadable;
use crate::facts::{DataDir, Reached};
use crate::model::{Lsn, Node};

/// How a mirror with existing data joins: it streams as it is, or is
/// rewound, or cloned anew; Err when it must not be touched.
pub(super) fn rejoin(
    node: &Node,
    facts: &Reached,
    primary: &Node,
    primary_facts: Option<&Reached>,
) -> Result<Rejoin, (FindingCode, String)> {
    let primary_id = primary_facts.and_then(Reached::system_identifier);
    let data_dir = &node.postgres.data_dir;
    let replace = |reason: String, precondition: Precondition, stop_first: bool| Rejoin::Clone {
        change: Change::Replace,
        move_aside: true,
        reason,
        precondition,
        stop_first,
    };
    let another = |what: &str| {
        format!(
            "{} runs {what}; stop it before mirrorset replaces its data directory",
            node.name
        )
    };
    Ok(match &facts.data_dir {
        DataDir::Missing | DataDir::Empty => Rejoin::Clone {
            change: Change::Add,
            move_aside: false,
            reason: "the node has no data yet".to_owned(),
            precondition: Precondition::DataDirEmpty,
            stop_first: false,
        },
        DataDir::Incomplete => replace(
            format!("an earlier clone into {data_dir} did not finish; moved aside, never deleted"),
            Precondition::None,
            false,
        ),
        DataDir::Unreadable { owner, mode } => {
            return Err((
                FindingCode::DataDirUnreadable,
                unreadable(node, owner, mode),
            ));
        }
        DataDir::Foreign if facts.running => {
            return Err((
                FindingCode::AnotherClusterRunning,
                another("another cluster"),
            ));
        }
        DataDir::Foreign => replace(
            format!(
                "{data_dir} holds files that are not a PostgreSQL cluster; moved aside, never deleted"
            ),
            Precondition::None,
            false,
        ),
        DataDir::Initialized {
            system_identifier, ..
        } if Some(system_identifier.as_str()) != primary_id => {
            if facts.running {
                return Err((
                    FindingCode::AnotherClusterRunning,
                    another("another cluster"),
                ));
            }
            replace(
                format!(
                    "{data_dir} holds another cluster (system identifier {system_identifier}, the primary's is {}); moved aside, never deleted",
                    primary_id.unwrap_or("unknown")
                ),
                Precondition::SystemIdentifier {
                    system_identifier: system_identifier.clone(),
                },
                false,
            )
        }
        DataDir::Initialized {
            system_identifier,
            checkpoint_timeline,
            rewindable,
            ..
        } => {
            let identifier = Precondition::SystemIdentifier {
                system_identifier: system_identifier.clone(),
            };
            if facts.running && facts.in_recovery == Some(false) {
                if !facts.detached_by_mirrorset(node) {
                    return Err((
                        FindingCode::UnexpectedPrimary,
                        format!(
                            "{} runs as a writable primary while {} is named primary; stop it first (the next plan rewinds it to follow {}), or name it primary",
                            node.name, primary.name, primary.name
                        ),
                    ));
                }
                replace(
                    format!(
                        "{} was detached as a standalone server and took writes of its own: it is stopped and cloned again from {}; its data directory, with those writes, is moved aside, never deleted",
                        node.name, primary.name
                    ),
                    identifier,
                    true,
                )
            } else if facts.rewind_failed && !facts.running {
                replace(
                    format!(
                        "pg_rewind failed on {} in an earlier apply (see {data_dir}.{}): cloned again; its data directory is moved aside, never deleted",
                        node.name,
                        crate::facts::REWIND_FAILED
                    ),
                    identifier,
                    false,
                )
            } else if facts.was_primary() {
                let timelines = match primary_facts.and_then(|p| p.timeline) {
                    Some(now) => format!(
                        " (timeline {checkpoint_timeline}; {} is on {now})",
                        primary.name
                    ),
                    None => String::new(),
                };
                if *rewindable {
                    Rejoin::Rewind {
                        reason: format!(
                            "{} was a primary{timelines}: pg_rewind makes it a copy of {} again; writes it made that {} never received are discarded",
                            node.name, primary.name, primary.name
                        ),
                    }
                } else {
                    replace(
                        format!(
                            "{} was a primary{timelines}, and pg_rewind cannot bring it back (wal_log_hints was off and data checksums are disabled): cloned again; its data directory is moved aside, never deleted",
                            node.name
                        ),
                        identifier,
                        false,
                    )
                }
            } else if let Some((needs, oldest)) = wal_gone(node, facts, primary_facts) {
                replace(
                    format!(
                        "{} would resume from WAL at {needs}, but {} keeps WAL only from {oldest} and holds no slot for it: cloned again; its data directory is moved aside, never deleted",
                        node.name, primary.name
                    ),
                    identifier,
                    facts.running,
                )
            } else {
                Rejoin::Streams
            }
        }
    })
}

/// (what the mirror needs, what the primary still has) when the WAL a
/// mirror would resume from is gone from the primary.
pub(super) fn wal_gone(
    node: &Node,
    facts: &Reached,
    primary_facts: Option<&Reached>,
) -> Option<(Lsn, Lsn)> {
    let primary_facts = primary_facts?;
    if primary_facts
        .slots
        .iter()
        .any(|slot| slot.name == node.slot.as_str())
    {
        return None;
    }
    let oldest = Lsn::parse(primary_facts.oldest_wal_lsn.as_deref()?)?;
    let needs = facts.resume_lsn()?;
    (needs < oldest).then_some((needs, oldest))
}

/// How a mirror with existing data joins the cluster.
pub(super) enum Rejoin {
    /// It keeps its data and streams (or will, once its files are right).
    Streams,
    Clone {
        change: Change,
        move_aside: bool,
        reason: String,
        precondition: Precondition,
        /// It runs: stop it before its directory is moved aside.
        stop_first: bool,
    },
    /// A former primary: pg_rewind, then it follows the primary.
    Rewind { reason: String },
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::Cluster;

    fn cluster() -> Cluster {
        crate::config::parse(
            Path::new("t.toml"),
            r#"
[cluster]
name = "t"
primary = "db1"
[replication]
user = "replicator"
passphrase = { env = "X" }
max_slot_wal_keep_size = "1GB"
[nodes.db1]
host = "10.0.0.1"
[nodes.db2]
host = "10.0.0.2"
"#
            .to_owned(),
        )
        .unwrap()
    }

    fn initialized(system_identifier: &str, cluster_state: &str, rewindable: bool) -> Reached {
        Reached {
            data_dir: DataDir::Initialized {
                system_identifier: system_identifier.into(),
                cluster_state: cluster_state.into(),
                checkpoint_timeline: 1,
                checkpoint_lsn: Some("0/3000060".into()),
                redo_lsn: Some("0/3000028".into()),
                rewindable,
            },
            ..Reached::default()
        }
    }

    fn primary_facts() -> Reached {
        Reached {
            running: true,
            in_recovery: Some(false),
            timeline: Some(2),
            ..initialized("7001", "in production", true)
        }
    }

    /// What `rejoin` decides for db2, as a word.
    fn decide(facts: &Reached) -> String {
        let cluster = cluster();
        let [primary, node] = &cluster.nodes[..] else {
            panic!()
        };
        match rejoin(node, facts, primary, Some(&primary_facts())) {
            Ok(Rejoin::Streams) => "streams".into(),
            Ok(Rejoin::Rewind { .. }) => "rewind".into(),
            Ok(Rejoin::Clone {
                move_aside: false, ..
            }) => "clone".into(),
            Ok(Rejoin::Clone {
                stop_first: true, ..
            }) => "stop, move aside, clone".into(),
            Ok(Rejoin::Clone { .. }) => "move aside, clone".into(),
            Err((_, reason)) => format!("refused: {reason}"),
        }
    }

    #[test]
    fn an_empty_or_missing_data_directory_is_cloned_into() {
        for data_dir in [DataDir::Missing, DataDir::Empty] {
            let facts = Reached {
                data_dir,
                ..Reached::default()
            };
            assert_eq!(decide(&facts), "clone");
        }
    }

    #[test]
    fn what_is_not_this_cluster_is_moved_aside_when_stopped_and_refused_when_running() {
        let incomplete = Reached {
            data_dir: DataDir::Incomplete,
            ..Reached::default()
        };
        assert_eq!(decide(&incomplete), "move aside, clone");
        let foreign = Reached {
            data_dir: DataDir::Foreign,
            ..Reached::default()
        };
        assert_eq!(decide(&foreign), "move aside, clone");
        let running_foreign = Reached {
            running: true,
            ..foreign
        };
        assert!(decide(&running_foreign).starts_with("refused: db2 runs another cluster"));
        let other = initialized("9999", "shut down in recovery", true);
        assert_eq!(decide(&other), "move aside, clone");
        let unreadable = Reached {
            data_dir: DataDir::Unreadable {
                owner: "root".into(),
                mode: "700".into(),
            },
            ..Reached::default()
        };
        assert!(
            decide(&unreadable).contains("chown"),
            "{}",
            decide(&unreadable)
        );
    }

    #[test]
    fn a_former_primary_is_rewound_when_it_can_be_and_cloned_when_it_cannot() {
        assert_eq!(decide(&initialized("7001", "shut down", true)), "rewind");
        assert_eq!(
            decide(&initialized("7001", "shut down", false)),
            "move aside, clone"
        );
        let writable = Reached {
            running: true,
            in_recovery: Some(false),
            ..initialized("7001", "in production", true)
        };
        assert!(decide(&writable).starts_with("refused: db2 runs as a writable primary"));
    }

    #[test]
    fn a_standby_streams_unless_its_wal_is_gone_or_its_rewind_failed() {
        let standby = Reached {
            standby_signal: true,
            ..initialized("7001", "shut down in recovery", true)
        };
        assert_eq!(decide(&standby), "streams");
        let failed = Reached {
            rewind_failed: true,
            ..standby.clone()
        };
        assert_eq!(decide(&failed), "move aside, clone");
    }

    #[test]
    fn wal_the_primary_no_longer_has_means_a_new_clone_unless_a_slot_holds_it() {
        let cluster = cluster();
        let [_, node] = &cluster.nodes[..] else {
            panic!()
        };
        let standby = Reached {
            standby_signal: true,
            ..initialized("7001", "shut down in recovery", true)
        };
        let mut primary = Reached {
            oldest_wal_lsn: Some("0/5000000".into()),
            ..primary_facts()
        };
        assert_eq!(
            wal_gone(node, &standby, Some(&primary)).map(|(a, b)| (a.to_string(), b.to_string())),
            Some(("0/3000028".into(), "0/5000000".into()))
        );
        primary.slots.push(crate::facts::observed::SlotFacts {
            name: "db2".into(),
            physical: true,
            active: false,
            restart_lsn: Some("0/3000028".into()),
            wal_status: Some("reserved".into()),
            retained_bytes: None,
        });
        assert_eq!(wal_gone(node, &standby, Some(&primary)), None);
    }
}
