//! How a mirror with existing data joins: it streams as it is, is rewound,
//! or is cloned anew, or must not be touched. Pure.

use super::action::{Change, Precondition};
use super::compute::{Planner, unreadable};
use crate::facts::{DataDir, Reached};
use crate::model::Node;

impl Planner<'_> {
    /// How a mirror with existing data joins: it streams as it is, or is
    /// rewound, or cloned anew; Err when it must not be touched.
    pub(super) fn rejoin(
        &self,
        node: &Node,
        facts: &Reached,
        primary: &Node,
        primary_facts: Option<&Reached>,
    ) -> Result<Rejoin, String> {
        let primary_id = primary_facts.and_then(Reached::system_identifier);
        let data_dir = &node.postgres.data_dir;
        let replace =
            |reason: String, precondition: Precondition, stop_first: bool| Rejoin::Clone {
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
                format!(
                    "an earlier clone into {data_dir} did not finish; moved aside, never deleted"
                ),
                Precondition::None,
                false,
            ),
            DataDir::Unreadable { owner, mode } => return Err(unreadable(node, owner, mode)),
            DataDir::Foreign if facts.running => return Err(another("another cluster")),
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
                    return Err(another("another cluster"));
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
                    if !facts.detached_by_mirrorset() {
                        return Err(format!(
                            "{} runs as a writable primary while {} is named primary; stop it first (the next plan rewinds it to follow {}), or name it primary",
                            node.name, primary.name, primary.name
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
                } else if let Some((needs, oldest)) = self.wal_gone(node, facts, primary_facts) {
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
