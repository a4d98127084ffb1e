//! What mirrorset made and the cluster file no longer names: from each
//! member's record and facts, the `-` steps that remove it (a renamed or
//! deleted node's slot, a former replication role, an old passfile or TLS
//! file), then each record rewritten to what is managed now. Foreign
//! objects, never recorded, are never touched. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition};
use super::compute::Planner;
use crate::model::{Node, OWNED_FILE, Owned};

impl Planner<'_> {
    /// Runs after every other step is planned: removals come once the
    /// mirrors use what replaces them, and each record is written last, so
    /// an interrupted apply still finds what it must remove.
    pub(super) fn plan_ownership(&mut self) {
        let cluster = self.cluster;
        let user = cluster.replication.user.to_string();
        let primary = cluster.node(&cluster.primary).expect("validated");
        // Roles are cluster-wide: the primary's catalog decides, and only
        // when it could be read.
        let primary_roles = self
            .facts(primary)
            .filter(|facts| facts.in_recovery.is_some())
            .map(|facts| &facts.other_roles);
        let members: Vec<&Node> = cluster.members().collect();
        let mut records: Vec<(&Node, Option<&Owned>)> = Vec::new();
        for node in &members {
            let Some(facts) = self.facts(node) else {
                continue;
            };
            if let Some(error) = &facts.owned_error {
                self.warn(FindingCode::OwnedRecordUnreadable,
                    Some(node),
                    format!(
                        "{}/{OWNED_FILE} is not a record mirrorset can read ({error}); it is left as it is, and what it names is not removed",
                        node.postgres.state_dir
                    ),
                );
                continue;
            }
            if let Some(owned) = &facts.owned
                && (owned.cluster != cluster.name.as_str() || owned.node != node.name.as_str())
            {
                self.warn(FindingCode::OwnedRecordOfAnotherNode,
                    Some(node),
                    format!(
                        "{}/{OWNED_FILE} records node {} of cluster {}; it is left as it is: give this node its own postgres.state_dir",
                        node.postgres.state_dir, owned.node, owned.cluster
                    ),
                );
                continue;
            }
            if !facts.legacy_files.is_empty() {
                self.warn(FindingCode::LegacyFilesLeft,
                    Some(node),
                    format!(
                        "an earlier mirrorset's files are still beside the data directory: {}; this node's state folder is now {}. Remove them once no other cluster on this machine uses them (a passfile or key there still holds a secret)",
                        facts.legacy_files.join(", "),
                        node.postgres.state_dir
                    ),
                );
            }
            records.push((node, facts.owned.as_ref()));
        }

        let former_roles: BTreeSet<&String> = records
            .iter()
            .filter_map(|(_, owned)| *owned)
            .flat_map(|owned| &owned.roles)
            .filter(|role| **role != user)
            .collect();
        if let Some(roles) = primary_roles {
            for role in &former_roles {
                if let Some(found) = roles.get(*role) {
                    self.push(Cause::NoLongerNamed,
                        primary,
                        Change::Remove,
                        ActionKind::RetireRole {
                            user: role.to_string(),
                            owned_objects: found.owned_objects,
                        },
                        format!(
                            "the replication role is now {user}; mirrorset managed {role}, which would keep its login and password"
                        ),
                        Precondition::None,
                    );
                }
            }
        }

        let mut rewrites = Vec::new();
        for (node, recorded) in records {
            let facts = self.facts(node).expect("records come from reached nodes");
            let wanted = self.managed_now(node);
            let recorded = recorded.cloned();
            let mut next = wanted.clone();
            let before = recorded
                .clone()
                .unwrap_or_else(|| Owned::new(cluster.name.as_str(), node.name.as_str()));
            if primary_roles.is_none() {
                next.roles.extend(before.roles.iter().cloned());
            }
            // Slots are read over SQL: unknown when it is not running.
            let slots_known = facts.in_recovery.is_some();
            for (slot, served) in &before.slots {
                if wanted.slots.contains_key(slot) {
                    continue;
                }
                // Gone once this plan ran: dropped by an earlier step, or
                // the data directory is cloned anew (pg_replslot is not copied).
                let gone_after_apply = self.actions.iter().any(|action| {
                    action.node == node.name
                        && match &action.kind {
                            ActionKind::DropSlot { slot: s, .. } => s == slot,
                            ActionKind::Clone { .. } => true,
                            _ => false,
                        }
                });
                if gone_after_apply {
                    continue;
                }
                if !slots_known {
                    next.slots.insert(slot.clone(), served.clone());
                    continue;
                }
                if facts.slots.iter().any(|s| &s.name == slot) {
                    let reason = match cluster.nodes.iter().find(|n| n.name.as_str() == served) {
                        None => format!(
                            "{served} is no longer in the cluster file (as if absent): mirrorset made this slot for it, and it would hold WAL forever"
                        ),
                        Some(member) if member.slot.as_str() != slot => format!(
                            "{served} now replicates through slot {}: this one would hold WAL forever",
                            member.slot
                        ),
                        Some(_) => format!(
                            "{served} is no longer served from {}: this slot would hold WAL forever",
                            node.name
                        ),
                    };
                    self.push(
                        Cause::NoLongerNamed,
                        node,
                        Change::Remove,
                        ActionKind::DropSlot {
                            slot: slot.clone(),
                            for_node: served.clone(),
                        },
                        reason,
                        Precondition::None,
                    );
                }
            }
            for (path, what) in &before.files {
                if wanted.files.contains_key(path) {
                    continue;
                }
                let inside_data = path.starts_with(&format!("{}/", node.postgres.data_dir));
                if !path.starts_with('/') || inside_data || path.chars().any(char::is_control) {
                    self.warn(FindingCode::OwnedPathNotManaged,
                        Some(node),
                        format!("the record names {path:?} as mirrorset's {what}; it is not removed: that is not a path mirrorset writes"),
                    );
                    continue;
                }
                self.push(
                    Cause::NoLongerNamed,
                    node,
                    Change::Remove,
                    ActionKind::RemoveFile {
                        path: path.clone(),
                        what: what.clone(),
                    },
                    format!("mirrorset wrote this {what}, and the cluster file no longer names it"),
                    Precondition::None,
                );
            }
            if recorded.as_ref() != Some(&next) {
                rewrites.push((node, recorded, next));
            }
        }
        for (node, recorded, next) in rewrites {
            self.push(Cause::OwnershipRecord,
                node,
                if recorded.is_some() {
                    Change::Change
                } else {
                    Change::Add
                },
                ActionKind::WriteFile {
                    path: format!("{}/{OWNED_FILE}", node.postgres.state_dir),
                    mode: 0o600,
                    enforce_mode: false,
                    before: recorded.as_ref().map(Owned::render),
                    after: Some(next.render()),
                    secret: None,
                },
                "the record of what mirrorset made here, so what the cluster file stops naming is removed",
                Precondition::None,
            );
        }
    }

    /// What mirrorset manages on a member as the cluster file stands.
    fn managed_now(&self, node: &Node) -> Owned {
        let cluster = self.cluster;
        let mut owned = Owned::new(cluster.name.as_str(), node.name.as_str());
        if node.name == cluster.primary {
            owned.slots = self
                .desired
                .slots
                .iter()
                .map(|(slot, served)| (slot.to_string(), served.to_string()))
                .collect::<BTreeMap<_, _>>();
        }
        owned.roles.insert(cluster.replication.user.to_string());
        owned
            .files
            .insert(node.postgres.passfile.clone(), "passfile".to_owned());
        if let Some(tls) = &self.desired_node(node).tls {
            for (path, what) in [
                (&tls.paths.ca, "TLS CA"),
                (&tls.paths.cert, "TLS certificate"),
                (&tls.paths.key, "TLS key"),
            ] {
                owned.files.insert(path.clone(), what.to_owned());
            }
        }
        owned
    }
}
