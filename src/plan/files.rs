//! The files mirrorset writes on a node: mirrorset.conf, the include line,
//! the pg_hba block, the passfile, the TLS files and postgresql.auto.conf,
//! each compared with what was found into write actions with their
//! preconditions. Pure.

use super::action::{ActionKind, Cause, Change, FindingCode, Precondition, SecretRef};
use super::compute::{Planner, sha256};
use super::health::HealthIssue;
use crate::desired::{
    DesiredRole, edit_properties, include_line_present, read_paths, with_block, with_include_line,
};
use crate::facts::Reached;
use crate::facts::observed::PassfileFacts;
use crate::facts::parse::conf_settings;
use crate::model::{Node, RoleFileEdit, Secret};

fn file_precondition(path: &str, before: Option<&str>) -> Precondition {
    Precondition::FileUnchanged {
        path: path.to_owned(),
        sha256: before.map(sha256),
    }
}

impl Planner<'_> {
    /// Writes a file when its content differs; returns whether it did.
    pub(super) fn plan_file(
        &mut self,
        cause: Cause,
        node: &Node,
        path: String,
        before: Option<&str>,
        after: String,
        reason: &str,
    ) -> bool {
        // The mode a new file gets; an existing one keeps its own.
        let mode = match cause {
            Cause::HbaBlock => 0o640,
            Cause::OverridingSetting => 0o600,
            _ => 0o644,
        };
        if before == Some(after.as_str()) {
            return false;
        }
        let change = if before.is_some() {
            Change::Change
        } else {
            Change::Add
        };
        self.push(
            cause,
            node,
            change,
            ActionKind::WriteFile {
                path: path.clone(),
                mode,
                enforce_mode: false,
                before: before.map(str::to_owned),
                after: Some(after),
                secret: None,
            },
            reason,
            file_precondition(&path, before),
        );
        true
    }

    /// mirrorset.conf, the include line and the pg_hba block; returns whether any changed.
    pub(super) fn plan_config_files(&mut self, node: &Node, facts: &Reached) -> bool {
        let desired = self.desired_node(node);
        let paths = read_paths(node);
        let mirrorset_conf = facts.files.text(&paths.mirrorset_conf);
        let mut changed = self.plan_file(
            Cause::ConfigFile,
            node,
            paths.mirrorset_conf.clone(),
            mirrorset_conf,
            desired.mirrorset_conf.clone(),
            if mirrorset_conf.is_some() {
                "mirrorset.conf differs from the cluster file"
            } else {
                "mirrorset.conf is missing"
            },
        );
        let conf_path = paths.postgresql_conf.clone();
        match facts.files.text(&conf_path) {
            Some(conf) if !include_line_present(conf) => {
                changed |= self.plan_file(
                    Cause::ConfigFile,
                    node,
                    conf_path,
                    Some(conf),
                    with_include_line(conf),
                    "postgresql.conf does not include mirrorset.conf",
                );
            }
            Some(_) => {}
            None => self.warn(
                FindingCode::MainConfigMissing,
                Some(node),
                format!("{conf_path} does not exist; mirrorset.conf cannot be included"),
            ),
        }
        let hba_path = facts.files.hba_path.clone().unwrap_or(paths.hba);
        match facts.files.text(&hba_path) {
            Some(hba) => match with_block(hba, &desired.hba_lines) {
                Ok(after) => {
                    let reason = if matches!(crate::desired::locate_block(hba), Ok(Some(_))) {
                        "the mirrorset block of pg_hba.conf differs from the cluster file"
                    } else {
                        "pg_hba.conf has no mirrorset block: members cannot replicate from this node"
                    };
                    changed |=
                        self.plan_file(Cause::HbaBlock, node, hba_path.clone(), Some(hba), after, reason);
                    self.shadowing_rules(node, hba);
                }
                Err(broken) => self.refuse(FindingCode::HbaBlockUnbounded,
                    Some(node),
                    format!(
                        "{hba_path} {broken}: mirrorset does not guess where its block ends, because a wrong guess deletes rules; \
                         make it one block between the two markers (or remove both markers), then plan again"
                    ),
                ),
            },
            None => self.warn(FindingCode::HbaFileMissing,
                Some(node),
                format!("{hba_path} does not exist; replication access cannot be granted"),
            ),
        }
        // The application's files follow the role too; PostgreSQL does not read them.
        self.plan_role_files(node, facts);
        changed
    }

    /// `[[files]]`: each file as the node's desired role wants it.
    pub(super) fn plan_role_files(&mut self, node: &Node, facts: &Reached) {
        let role = self.desired_node(node).role;
        for file in &node.role_files {
            let (edit, role_name) = match role {
                DesiredRole::Primary => (file.primary.as_ref(), "primary"),
                DesiredRole::Mirror => (file.mirror.as_ref(), "mirror"),
                DesiredRole::Standalone => (
                    file.standalone.as_ref().or(file.primary.as_ref()),
                    "standalone",
                ),
                DesiredRole::Absent => (None, "absent"),
            };
            let Some(edit) = edit else {
                continue;
            };
            let found = facts.files.text(&file.path);
            let after = match (edit, found) {
                (RoleFileEdit::Content(content), _) => content.clone(),
                (RoleFileEdit::Properties { set, unset }, Some(text)) => {
                    edit_properties(text, set, unset)
                }
                (RoleFileEdit::Properties { .. }, None) => {
                    self.unhealthy(
                        node,
                        HealthIssue::ApplicationFileMissing {
                            path: file.path.clone(),
                            section: "[[files]]".to_owned(),
                        },
                    );
                    continue;
                }
            };
            let reason = match found {
                None => format!("[[files]]: it is missing on this {role_name}"),
                Some(_) => {
                    format!("[[files]]: this {role_name}'s copy differs from the cluster file")
                }
            };
            self.plan_file(
                Cause::RoleFile,
                node,
                file.path.clone(),
                found,
                after,
                &reason,
            );
        }
    }

    /// Warns of rules before the managed block that could decide replication first.
    pub(super) fn shadowing_rules(&mut self, node: &Node, hba: &str) {
        let user = self.cluster.replication.user.as_str();
        let begin = match crate::desired::locate_block(hba) {
            Ok(Some(block)) => block.begin,
            _ => usize::MAX,
        };
        for (index, line) in hba.lines().enumerate().take(begin) {
            let fields: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if fields.len() < 4 || !fields[0].starts_with("host") {
                continue;
            }
            let database_matches = fields[1]
                .split(',')
                .any(|d| d == "replication" || d == "postgres" || d == "all");
            let user_matches = fields[2].split(',').any(|u| u == "all" || u == user);
            let broad = matches!(
                fields[3],
                "all" | "0.0.0.0/0" | "::/0" | "samenet" | "samehost"
            );
            if database_matches && user_matches && broad {
                self.warn(FindingCode::HbaRuleBeforeBlock,
                    Some(node),
                    format!("pg_hba.conf line {} comes before the mirrorset block and may decide replication first: {}", index + 1, line.trim()),
                );
            }
        }
    }

    pub(super) fn plan_passfile(&mut self, node: &Node, facts: &Reached) {
        let wanted = self.desired_node(node).passfile.clone();
        self.plan_secret_file(
            node,
            node.postgres.passfile.clone(),
            facts.passfile.as_ref(),
            &wanted,
            SecretRef::Passfile,
            SecretFileWords {
                missing: "the passfile is missing",
                differs: "the passfile does not hold the current passphrase",
                name: "the passfile",
                unsafe_mode: "libpq ignores it unless 0600",
            },
        );
    }

    /// A 0600 file whose content is a secret: never in the plan, derived
    /// again at apply; written when missing, different or readable by others.
    pub(super) fn plan_secret_file(
        &mut self,
        node: &Node,
        path: String,
        found: Option<&PassfileFacts>,
        wanted: &Secret<String>,
        secret: SecretRef,
        words: SecretFileWords,
    ) -> bool {
        let (change, reason) = match found {
            None => (Change::Add, words.missing.to_owned()),
            Some(found) if found.content.expose() != wanted.expose() => {
                (Change::Change, words.differs.to_owned())
            }
            Some(found) if found.mode != 0o600 || found.owner != node.postgres.os_user => (
                Change::Change,
                format!(
                    "{} is mode {:04o} owned by {}; {}",
                    words.name, found.mode, found.owner, words.unsafe_mode
                ),
            ),
            Some(_) => return false,
        };
        self.push(
            Cause::SecretFile,
            node,
            change,
            ActionKind::WriteFile {
                path,
                mode: 0o600,
                enforce_mode: true,
                before: None,
                after: None,
                secret: Some(secret),
            },
            reason,
            Precondition::None,
        );
        true
    }

    /// The CA, certificate and key in the state folder, when the cluster
    /// file names them; written before the settings that point at them.
    /// Returns whether the server must load them again: they change, or
    /// changed since it last read its configuration.
    pub(super) fn plan_tls_files(&mut self, node: &Node, facts: &Reached) -> bool {
        let Some(tls) = self.desired_node(node).tls.clone() else {
            return false;
        };
        let mut changed = false;
        let public = [
            (
                &tls.paths.ca,
                facts.files.text(&tls.paths.ca),
                &tls.ca,
                (
                    "the CA differs from [replication.tls] ca",
                    "the CA this node verifies servers against",
                ),
            ),
            (
                &tls.paths.cert,
                facts.files.text(&tls.paths.cert),
                &tls.cert,
                (
                    "the certificate differs from the cluster file's",
                    "the certificate this node presents as a server",
                ),
            ),
        ];
        for (path, before, after, (differs, missing)) in public {
            let reason = if before.is_some() { differs } else { missing };
            changed |= self.plan_file(
                Cause::TlsFile,
                node,
                path.clone(),
                before,
                after.clone(),
                reason,
            );
        }
        changed |= self.plan_secret_file(
            node,
            tls.paths.key.clone(),
            facts.tls_key.as_ref(),
            &tls.key,
            SecretRef::TlsKey,
            SecretFileWords {
                missing: "the key of its certificate",
                differs: "the key differs from the cluster file's",
                name: "the key",
                unsafe_mode: "PostgreSQL refuses a key others can read",
            },
        );
        let loaded_before_written = matches!(
            (facts.tls_mtime, facts.conf_load_time),
            (Some(written), Some(loaded)) if written > loaded
        );
        if loaded_before_written && !changed {
            self.stale_tls.insert(node.name.to_string());
        }
        changed || loaded_before_written
    }

    /// ALTER SYSTEM values that would override mirrorset.conf: reset by
    /// SQL on a running server, their lines removed from the file on a
    /// stopped one (which would otherwise start with them).
    pub(super) fn plan_auto_conf(&mut self, node: &Node, facts: &Reached) {
        let Some(auto) = facts.files.text(&read_paths(node).auto_conf) else {
            return;
        };
        let desired = self.desired_node(node);
        if !facts.running {
            let owned: Vec<usize> = crate::facts::parse::conf_lines(auto)
                .into_iter()
                .filter(|(_, name, _)| desired.settings.contains_key(name))
                .map(|(line, _, _)| line)
                .collect();
            if owned.is_empty() {
                return;
            }
            let kept: String = auto
                .split_inclusive('\n')
                .enumerate()
                .filter(|(index, _)| !owned.contains(&(index + 1)))
                .map(|(_, line)| line)
                .collect();
            self.plan_file(Cause::OverridingSetting,
                node,
                format!("{}/postgresql.auto.conf", node.postgres.data_dir),
                Some(auto),
                kept,
                "postgresql.auto.conf (ALTER SYSTEM) sets what mirrorset.conf sets, and the server is stopped: the lines go from the file, so it starts with mirrorset.conf's values",
            );
            return;
        }
        for name in conf_settings(auto)
            .keys()
            .filter(|name| desired.settings.contains_key(*name))
        {
            self.push(Cause::OverridingSetting,
                node,
                Change::Remove,
                ActionKind::ResetSetting { setting: name.clone() },
                format!("postgresql.auto.conf (ALTER SYSTEM) sets {name}, which would override mirrorset.conf"),
                Precondition::None,
            );
        }
    }

    /// A copied data directory: the node's own files written again, against
    /// what the copy brought from the primary when its configuration lives
    /// in the data directory.
    pub(super) fn plan_files_after_copy(
        &mut self,
        node: &Node,
        facts: &Reached,
        primary_facts: Option<&Reached>,
        copy: &str,
    ) {
        let config_dir = &node.postgres.config_dir;
        let data_dir = &node.postgres.data_dir;
        let config_in_data_dir =
            config_dir == data_dir || config_dir.starts_with(&format!("{data_dir}/"));
        let primary = self.cluster.node(&self.cluster.primary).expect("validated");
        match primary_facts.filter(|_| config_in_data_dir) {
            // The copy brings the primary's config files as they will be by
            // then: plan this node's edits against those.
            Some(primary_facts) => {
                let primary_desired = self.desired_node(primary);
                let mut predicted = facts.clone();
                let paths = read_paths(node);
                let from = read_paths(primary);
                let mut files = crate::facts::observed::Files {
                    hba_path: Some(paths.hba.clone()),
                    ..Default::default()
                };
                files.set(
                    &paths.postgresql_conf,
                    primary_facts
                        .files
                        .text(&from.postgresql_conf)
                        .map(with_include_line),
                );
                files.set(
                    &paths.mirrorset_conf,
                    Some(primary_desired.mirrorset_conf.clone()),
                );
                files.set(
                    &paths.hba,
                    primary_facts
                        .files
                        .hba()
                        .and_then(|hba| with_block(hba, &primary_desired.hba_lines).ok()),
                );
                // Outside the data directory: the copy does not touch them.
                for own in [&paths.tls.ca, &paths.tls.cert]
                    .into_iter()
                    .chain(&paths.role_files)
                {
                    files.set(own, facts.files.text(own).map(str::to_owned));
                }
                predicted.files = files;
                let first_file = self.actions.len();
                self.plan_config_files(node, &predicted);
                for action in &mut self.actions[first_file..] {
                    action.precondition = Precondition::None;
                    action.reason =
                        format!("{} (after {copy} copied the primary's)", action.reason);
                }
            }
            None => {
                self.plan_config_files(node, facts);
            }
        }
    }
}

/// How the plan words a secret file's state.
pub(super) struct SecretFileWords {
    missing: &'static str,
    differs: &'static str,
    name: &'static str,
    unsafe_mode: &'static str,
}
