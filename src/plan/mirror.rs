//! A mirror, from empty or existing data to streaming: clone or rewind, its
//! files, start, and the wait for streaming. Pure.

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition};
use super::compute::{LAGGING_BYTES, Planner, human_bytes};
use super::health::{HealthIssue, ReceiverView, SlotView};
use super::promotion::Hook;
use super::rejoin::Rejoin;
use crate::facts::Reached;
use crate::model::Node;

impl Planner<'_> {
    pub(super) fn plan_mirror(&mut self, node: &Node) {
        if let Some(facts) = self.facts(node) {
            self.plan_mirror_with(node, facts);
        }
    }

    /// A mirror, planned against `facts` (as observed, or as they will be
    /// once an earlier step of the same plan stopped it).
    pub(super) fn plan_mirror_with(&mut self, node: &Node, facts: &Reached) {
        let primary = self.cluster.node(&self.cluster.primary).expect("validated");
        let primary_facts = self.facts(primary);
        let rejoin = match super::rejoin::rejoin(node, facts, primary, primary_facts) {
            Ok(rejoin) => rejoin,
            Err((code, message)) => {
                self.refuse(code, Some(node), message);
                return;
            }
        };
        // A standalone server taken back changes role: the application's
        // hooks run around its return, as around a switchover. One whose
        // detachment stopped before its promotion is still a mirror.
        let returning = facts.was_primary() && facts.detached_by_mirrorset(node);
        if returning {
            self.hook(node, Hook::Before, "standalone", "mirror");
        }
        self.plan_passfile(node, facts);
        let tls_changed = self.plan_tls_files(node, facts);
        self.plan_sync(node, facts, primary, primary_facts);
        let data_dir = node.postgres.data_dir.clone();
        match rejoin {
            Rejoin::Streams => {
                self.plan_streaming_mirror(node, facts, primary, primary_facts, tls_changed)
            }
            Rejoin::Clone {
                change,
                move_aside,
                reason,
                precondition,
                stop_first,
            } => {
                if stop_first {
                    self.push(
                        Cause::DataDirReplaced,
                        node,
                        Change::Step,
                        ActionKind::Stop,
                        format!(
                            "{} is stopped before its data directory is moved aside",
                            node.name
                        ),
                        Precondition::None,
                    );
                }
                self.push(
                    if move_aside {
                        Cause::DataDirReplaced
                    } else {
                        Cause::NewMirror
                    },
                    node,
                    change,
                    ActionKind::Clone {
                        from_node: primary.name.to_string(),
                        from_host: primary.host.clone(),
                        from_port: primary.postgres.port,
                        slot: node.slot.to_string(),
                        data_dir: data_dir.clone(),
                        move_aside,
                    },
                    reason,
                    precondition,
                );
                self.plan_files_after_copy(node, facts, primary_facts, "the clone");
                self.start_as_mirror(node, primary);
            }
            Rejoin::Rewind { reason } => {
                self.push(
                    Cause::Rewind,
                    node,
                    Change::Change,
                    ActionKind::Rewind {
                        from_node: primary.name.to_string(),
                        from_host: primary.host.clone(),
                        from_port: primary.postgres.port,
                        data_dir: data_dir.clone(),
                    },
                    reason,
                    Precondition::NodeStopped {
                        node: node.name.to_string(),
                    },
                );
                self.plan_files_after_copy(node, facts, primary_facts, "pg_rewind");
                self.start_as_mirror(node, primary);
                // A real rewind empties pg_replslot, one that found nothing to
                // do leaves the slots this node had as primary.
                let slots: Vec<(String, String)> = self
                    .cluster_slots()
                    .into_iter()
                    .filter(|(_, owner)| owner != node.name.as_str())
                    .filter(|(slot, _)| {
                        // Slots are read over SQL: unknown when it was not running.
                        facts.in_recovery.is_none()
                            || facts.slots.iter().any(|s| s.name == slot.as_str())
                    })
                    .collect();
                for (slot, owner) in slots {
                    self.push(Cause::SlotOnMirror,
                        node,
                        Change::Remove,
                        ActionKind::DropSlot {
                            slot,
                            for_node: owner,
                        },
                        format!("if left from when {} was primary: a slot on a mirror holds WAL there forever", node.name),
                        Precondition::None,
                    );
                }
            }
        }
        if returning {
            self.hook(node, Hook::After, "standalone", "mirror");
        }
    }

    /// standby.signal, start, and wait until it streams.
    pub(super) fn start_as_mirror(&mut self, node: &Node, primary: &Node) {
        self.push(
            Cause::StartAsMirror,
            node,
            Change::Add,
            ActionKind::WriteStandbySignal {
                path: format!("{}/standby.signal", node.postgres.data_dir),
            },
            "a mirror starts in recovery",
            Precondition::None,
        );
        self.push(
            Cause::StartAsMirror,
            node,
            Change::Step,
            ActionKind::Start,
            format!("{} starts as a mirror", node.name),
            Precondition::None,
        );
        self.wait_streaming(node, primary);
    }

    /// A mirror that keeps its data: its files, service, and whether to wait for it.
    pub(super) fn plan_streaming_mirror(
        &mut self,
        node: &Node,
        facts: &Reached,
        primary: &Node,
        primary_facts: Option<&Reached>,
        tls_changed: bool,
    ) {
        let desired = self.desired_node(node);
        let data_dir = &node.postgres.data_dir;
        let files_changed = self.plan_config_files(node, facts) || tls_changed;
        if desired.standby_signal && !facts.standby_signal {
            self.push(
                Cause::StandbySignalMissing,
                node,
                Change::Add,
                ActionKind::WriteStandbySignal {
                    path: format!("{data_dir}/standby.signal"),
                },
                "standby.signal is missing: the next start would make this mirror a second primary",
                Precondition::None,
            );
        }
        self.plan_auto_conf(node, facts);
        self.plan_service(node, facts, files_changed);
        // Slots on a mirror, left from when it was primary, hold WAL there.
        let cluster_slots: Vec<(String, String)> = self
            .cluster_slots()
            .into_iter()
            .filter(|(slot, _)| facts.slots.iter().any(|s| s.name == slot.as_str()))
            .collect();
        for (slot, owner) in cluster_slots {
            self.push(
                Cause::SlotOnMirror,
                node,
                Change::Remove,
                ActionKind::DropSlot {
                    slot: slot.clone(),
                    for_node: owner,
                },
                format!(
                    "a slot on a mirror holds WAL there forever; {slot} is used on the primary only"
                ),
                Precondition::None,
            );
        }
        let streaming = facts.streams_from(primary, node.slot.as_str());
        let conninfo_changes = match (
            desired.settings.get("primary_conninfo"),
            facts.settings.get("primary_conninfo"),
        ) {
            (Some(crate::model::SettingValue::String(wanted)), Some(running)) => {
                wanted != &running.setting
            }
            _ => false,
        };
        let slot_planned = self.actions.iter().any(|a| {
            matches!(&a.kind, ActionKind::CreateSlot { for_node, .. } if for_node == node.name.as_str())
        });
        let restarted = self.starts(node);
        // Anything planned for a mirror that does not stream may be what
        // it lacks (its passfile, its pg_hba lines, its slot): apply waits
        // and says why if it still does not stream.
        let repairs_planned = slot_planned
            || self.actions.iter().any(|a| {
                a.node == node.name || (a.node == primary.name && is_access_change(&a.kind))
            });
        // A primary that (re)starts drops its walsenders: its mirrors reconnect.
        let primary_starts = self.settings.primary_just_started || self.starts(primary);
        if restarted
            || conninfo_changes
            || (facts.running && primary_starts)
            || (!streaming && repairs_planned)
        {
            self.wait_streaming(node, primary);
        } else if !streaming && facts.running {
            let receiver = facts.wal_receiver.as_ref().map(|w| ReceiverView {
                status: w.status.clone(),
                sender_host: w.sender_host.clone(),
                sender_port: w.sender_port,
                slot_name: w.slot_name.clone(),
            });
            let slot = primary_facts.map(|p| {
                match p.slots.iter().find(|s| s.name == node.slot.as_str()) {
                    None => SlotView::Missing,
                    Some(s) if s.wal_status.as_deref() == Some("lost") => SlotView::Lost,
                    Some(s) if s.active => SlotView::Active,
                    Some(_) => SlotView::Inactive,
                }
            });
            self.unhealthy(
                node,
                HealthIssue::MirrorNotStreaming {
                    upstream: primary.name.to_string(),
                    receiver,
                    slot,
                    // A log line could quote anything; never the passphrase.
                    cause: facts.log_errors.last().map(|line| {
                        let message = crate::facts::parse::server_message(line);
                        match self.passphrase.expose().as_str() {
                            "" => message,
                            secret => message.replace(secret, crate::model::REDACTED),
                        }
                    }),
                },
            );
        }
        if facts.replay_paused == Some(true) {
            self.unhealthy(node, HealthIssue::ReplayPaused);
        }
        let lag = primary_facts
            .and_then(|p| {
                p.replicas
                    .iter()
                    .find(|r| r.application_name == node.name.as_str())
            })
            .and_then(|replica| replica.lag_bytes)
            .filter(|bytes| *bytes > LAGGING_BYTES);
        if let Some(bytes) = lag {
            self.warn(
                FindingCode::MirrorLagging,
                Some(node),
                format!(
                    "{} lags {} behind {}",
                    node.name,
                    human_bytes(bytes),
                    primary.name
                ),
            );
        }
        self.order_restarts(node);
    }

    pub(super) fn wait_streaming(&mut self, mirror: &Node, primary: &Node) {
        self.push(
            Cause::WaitStreaming,
            mirror,
            Change::Step,
            ActionKind::WaitStreaming {
                upstream: primary.name.to_string(),
            },
            "apply is done when the mirror streams",
            Precondition::None,
        );
    }
}

/// A change on the primary that can decide whether a mirror may log in.
pub(super) fn is_access_change(kind: &ActionKind) -> bool {
    match kind {
        ActionKind::WriteFile { path, .. } => path.ends_with("pg_hba.conf"),
        ActionKind::EnsureRole { .. } | ActionKind::Reload | ActionKind::Restart { .. } => true,
        _ => false,
    }
}
