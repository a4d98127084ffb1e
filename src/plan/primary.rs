//! The primary's own objects: its files and service, the replication role
//! and its pg_rewind grants, and one slot per member. Pure.

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition};
use super::compute::{Planner, human_bytes};
use crate::desired::REWIND_FUNCTIONS;
use crate::facts::Reached;
use crate::model::{Node, verifier_matches};
use std::collections::{BTreeMap, BTreeSet};

impl Planner<'_> {
    /// The primary's files, service, role and slots, against `facts`
    /// (as observed, or as they will be once a promotion is done).
    pub(super) fn plan_primary(&mut self, primary: &Node, facts: &Reached) {
        let tls_changed = self.plan_tls_files(primary, facts);
        let files_changed = self.plan_config_files(primary, facts) || tls_changed;
        self.plan_passfile(primary, facts);
        self.plan_auto_conf(primary, facts);
        self.plan_service(primary, facts, files_changed);
        self.plan_role(primary, facts);
        self.plan_slots(primary, facts);
    }

    /// A primary that is not running: its files, a start, and then a new
    /// plan. What only SQL can tell (its role, slots, settings, and from
    /// them its mirrors' steps) is unknown now, never assumed missing.
    pub(super) fn plan_stopped_primary(&mut self, primary: &Node, facts: &Reached) {
        self.plan_tls_files(primary, facts);
        self.plan_config_files(primary, facts);
        self.plan_passfile(primary, facts);
        self.plan_auto_conf(primary, facts);
        self.plan_service(primary, facts, false);
        if !self.starts(primary) {
            // It would not start as the file says: the verdict names why.
            return;
        }
        self.push(Cause::Replan,
            primary,
            Change::Step,
            ActionKind::Replan,
            format!(
                "{} was not running, so its role, slots and settings could not be read: apply reads every node again once it runs, then shows and does the rest",
                primary.name
            ),
            Precondition::None,
        );
    }

    pub(super) fn plan_role(&mut self, primary: &Node, facts: &Reached) {
        let replication = &self.cluster.replication;
        let user = replication.user.to_string();
        let role = facts.role.as_ref().filter(|role| role.exists);
        let password_ok = role
            .and_then(|role| role.verifier.as_ref())
            .is_some_and(|verifier| verifier_matches(verifier, self.passphrase));
        let mut reasons = Vec::new();
        match role {
            None => reasons.push("the replication role does not exist".to_owned()),
            Some(role) => {
                if !role.login || !role.replication {
                    reasons.push("LOGIN or REPLICATION is missing".to_owned());
                }
                if role.superuser {
                    reasons.push("it is a superuser".to_owned());
                }
                if role.connection_limit != replication.connection_limit {
                    reasons.push(format!(
                        "connection limit {} -> {}",
                        role.connection_limit, replication.connection_limit
                    ));
                }
                if !password_ok {
                    reasons.push("password (sensitive) differs".to_owned());
                }
            }
        }
        if !reasons.is_empty() {
            self.push(
                Cause::ReplicationRole,
                primary,
                if role.is_none() {
                    Change::Add
                } else {
                    Change::Change
                },
                ActionKind::EnsureRole {
                    user: user.clone(),
                    create: role.is_none(),
                    connection_limit: replication.connection_limit,
                    set_password: !password_ok,
                },
                reasons.join("; "),
                Precondition::None,
            );
        }
        for function in REWIND_FUNCTIONS {
            let granted =
                role.is_some_and(|role| role.rewind_grants.get(function).copied().unwrap_or(false));
            if !granted {
                self.push(
                    Cause::RewindGrant,
                    primary,
                    Change::Add,
                    ActionKind::GrantRewind {
                        user: user.clone(),
                        function: function.to_owned(),
                    },
                    "pg_rewind of a former primary connects as the replication role",
                    Precondition::None,
                );
            }
        }
    }

    pub(super) fn plan_slots(&mut self, primary: &Node, facts: &Reached) {
        let existing: BTreeMap<&str, _> = facts
            .slots
            .iter()
            .map(|slot| (slot.name.as_str(), slot))
            .collect();
        for (slot, node) in &self.desired.slots {
            if !existing.contains_key(slot.as_str()) {
                self.push(
                    Cause::MemberSlot,
                    primary,
                    Change::Add,
                    ActionKind::CreateSlot {
                        slot: slot.to_string(),
                        for_node: node.to_string(),
                    },
                    format!("{node} replicates through its own slot"),
                    Precondition::SlotMissing {
                        slot: slot.to_string(),
                    },
                );
            }
        }
        for (slot, node) in &self.desired.stale_slots {
            if existing.contains_key(slot.as_str()) {
                self.push(
                    Cause::SlotOfNonMember,
                    primary,
                    Change::Remove,
                    ActionKind::DropSlot {
                        slot: slot.to_string(),
                        for_node: node.to_string(),
                    },
                    format!("{node} is no longer a member; its slot would hold WAL forever"),
                    Precondition::None,
                );
            }
        }
        let known: BTreeSet<&str> = self
            .desired
            .slots
            .iter()
            .chain(&self.desired.stale_slots)
            .map(|(slot, _)| slot.as_str())
            // Slots mirrorset made are dropped from its record (ownership.rs).
            .chain(
                facts
                    .owned
                    .iter()
                    .flat_map(|owned| owned.slots.keys().map(String::as_str)),
            )
            .collect();
        for slot in facts
            .slots
            .iter()
            .filter(|slot| !known.contains(slot.name.as_str()))
        {
            let retained = slot
                .retained_bytes
                .map(|b| format!(", holding {} of WAL", human_bytes(b)))
                .unwrap_or_default();
            self.warn(FindingCode::UnnamedSlot,
                Some(primary),
                format!("slot {} is not named in the cluster file ({}{retained}); mirrorset never drops it", slot.name, if slot.active { "active" } else { "inactive" }),
            );
        }
    }

    /// Every node's slot name, with its node: the slots a primary may hold.
    pub(super) fn cluster_slots(&self) -> Vec<(String, String)> {
        self.cluster
            .nodes
            .iter()
            .map(|node| (node.slot.to_string(), node.name.to_string()))
            .collect()
    }
}
