//! `[[sync]]` on a mirror: each file the primary holds under an entry that
//! the mirror lacks or holds otherwise (checksum, size, mode, owner) is copied,
//! and with `delete` each the primary lacks is removed; and before a
//! promotion, the target must already hold the primary's copies. Only
//! checksums, sizes, modes and owners are compared or shown; a copy for
//! another owner than the PostgreSQL OS user is refused unless the login
//! is root, who alone can chown it. Pure.

use std::collections::BTreeMap;

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition};
use super::compute::{Planner, human_bytes};
use super::health::HealthIssue;
use crate::facts::Reached;
use crate::facts::observed::SyncedFile;
use crate::model::{Node, SyncEntry};

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The files of one entry by name (a glob's matches live in one folder).
fn by_name(files: &[SyncedFile]) -> BTreeMap<&str, &SyncedFile> {
    files
        .iter()
        .map(|file| (name_of(&file.path), file))
        .collect()
}

/// The owner a copy of `source` must have: the entry's, else the source's.
fn owner_of<'a>(source: &'a SyncedFile, entry: &'a SyncEntry) -> &'a str {
    entry.owner.as_deref().unwrap_or(&source.owner)
}

/// What a mirror's copy must be to match the primary's `source`.
fn differs(source: &SyncedFile, copy: Option<&&SyncedFile>, entry: &SyncEntry) -> Option<String> {
    let mode = entry.mode.unwrap_or(source.mode);
    let owner = owner_of(source, entry);
    match copy {
        None => Some("missing".to_owned()),
        Some(copy) if copy.sha256 != source.sha256 || copy.size != source.size => {
            Some("its content differs (sha256)".to_owned())
        }
        Some(copy) if copy.mode != mode => Some(format!("mode {:04o} -> {mode:04o}", copy.mode)),
        Some(copy) if copy.owner != owner => Some(format!("owner {} -> {owner}", copy.owner)),
        Some(_) => None,
    }
}

impl Planner<'_> {
    pub(super) fn plan_sync(
        &mut self,
        node: &Node,
        facts: &Reached,
        primary: &Node,
        primary_facts: Option<&Reached>,
    ) {
        let Some(primary_facts) = primary_facts else {
            return;
        };
        for (index, entry) in node.sync.iter().enumerate() {
            let source_entry = &primary.sync[index];
            let sources = primary_facts
                .synced
                .get(index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let copies = facts
                .synced
                .get(index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if sources.is_empty() && !source_entry.is_glob() {
                self.unhealthy(
                    primary,
                    HealthIssue::ApplicationFileMissing {
                        path: source_entry.path.clone(),
                        section: "[[sync]]".to_owned(),
                    },
                );
                continue;
            }
            let copies_by_name = by_name(copies);
            for source in sources {
                let name = name_of(&source.path);
                let Some(why) = differs(source, copies_by_name.get(name), entry) else {
                    continue;
                };
                let path = entry.path_of(name);
                let owner = owner_of(source, entry);
                if owner != node.postgres.os_user && facts.login_user != "root" {
                    self.refuse(FindingCode::SyncOwnerNeedsRoot,
                        Some(node),
                        format!(
                            "{path} ([[sync]]) must belong to {owner}, and {} can hand a file to {owner} only when mirrorset logs in to it as root (it logs in as {}); set ssh.user = \"root\" for {}, or owner = \"{}\" to keep the copies the PostgreSQL OS user's",
                            node.name, facts.login_user, node.name, node.postgres.os_user
                        ),
                    );
                    continue;
                }
                self.push(
                    Cause::SyncCopy,
                    node,
                    if copies_by_name.contains_key(name) {
                        Change::Change
                    } else {
                        Change::Add
                    },
                    ActionKind::SyncFile {
                        from_node: primary.name.to_string(),
                        from_path: source.path.clone(),
                        path,
                        sha256: source.sha256.clone(),
                        size: source.size,
                        mode: entry.mode.unwrap_or(source.mode),
                        owner: owner.to_owned(),
                        sensitive: entry.sensitive,
                    },
                    format!(
                        "[[sync]] from {} ({}): {why}",
                        primary.name,
                        human_bytes(source.size as i64)
                    ),
                    Precondition::None,
                );
            }
            if entry.delete {
                let sources_by_name = by_name(sources);
                for copy in copies {
                    if !sources_by_name.contains_key(name_of(&copy.path)) {
                        self.push(
                            Cause::SyncDelete,
                            node,
                            Change::Remove,
                            ActionKind::RemoveFile {
                                path: copy.path.clone(),
                                what: "synced file".to_owned(),
                            },
                            format!(
                                "[[sync]] delete = true: {} no longer holds it",
                                primary.name
                            ),
                            Precondition::None,
                        );
                    }
                }
            }
        }
    }

    /// Before `target` is promoted: it must hold what the old primary holds
    /// under every `[[sync]]` entry (a mirror without the product's key
    /// would come up unable to read its own data). True when refused.
    pub(super) fn synced_before_promotion(
        &mut self,
        target: &Node,
        target_facts: &Reached,
        old: &Node,
        old_facts: &Reached,
    ) -> bool {
        let mut refused = false;
        for (index, entry) in target.sync.iter().enumerate() {
            let sources = old_facts
                .synced
                .get(index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let copies = target_facts
                .synced
                .get(index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let copies_by_name = by_name(copies);
            for source in sources {
                let name = name_of(&source.path);
                // The content is what the application needs to start; an
                // owner alone is repaired by the next apply, not a reason to
                // refuse the promotion.
                let why = differs(source, copies_by_name.get(name), entry)
                    .filter(|why| !why.starts_with("owner "));
                if let Some(why) = why {
                    self.refuse(FindingCode::TargetLacksSyncedFile,
                        Some(target),
                        format!(
                            "{} cannot be promoted: its copy of {} ([[sync]]) is not {}'s ({why}); apply with {} still primary first, so the copy is made",
                            target.name,
                            entry.path_of(name),
                            old.name,
                            old.name
                        ),
                    );
                    refused = true;
                }
            }
        }
        refused
    }
}
