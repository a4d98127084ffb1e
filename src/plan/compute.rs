//! (Cluster, Desired, Observed) -> Plan, with no I/O. The order of actions
//! is planned here, not discovered at apply: the primary's files and
//! restart come before the role, grants and slots, which come before the
//! clones that need them; each mirror is then cloned (or fixed), written,
//! started and awaited.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::action::{
    Action, ActionKind, Change, Finding, NodeSummary, PLAN_FORMAT_VERSION, Plan, PlanSettings,
    Precondition, Summary,
};
use super::health::{HealthFinding, HealthIssue, ReceiverView, SlotView};
use super::settings::setting_differs;
use super::topology::PromotionCase;
use crate::desired::{
    Desired, DesiredNode, DesiredRole, MIRRORSET_CONF, REWIND_FUNCTIONS, include_line_present,
    with_block, with_include_line,
};
use crate::facts::observed::PassfileFacts;
use crate::facts::parse::{conf_settings, major_version};
use crate::facts::{DataDir, NodeFacts, Observed, Reached};
use crate::model::{Cluster, Lsn, Node, NodeState, Secret, verifier_matches};

/// WAL a mirror may have yet to replay before plan calls it lagging.
pub(super) const LAGGING_BYTES: i64 = 16 * 1024 * 1024;

/// Settings a hot standby must have at least as high as its primary.
const STANDBY_MUST_MATCH: [&str; 5] = [
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
];

pub fn sha256(text: &str) -> String {
    sha256_bytes(text.as_bytes())
}

/// Hex SHA-256, the form preconditions record a file's content in.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn file_precondition(path: &str, before: Option<&str>) -> Precondition {
    Precondition::FileUnchanged {
        path: path.to_owned(),
        sha256: before.map(sha256),
    }
}

pub(super) struct Planner<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) desired: &'a Desired,
    pub(super) observed: &'a Observed,
    pub(super) passphrase: &'a Secret<String>,
    pub(super) settings: PlanSettings,
    pub(super) actions: Vec<Action>,
    pub(super) warnings: Vec<Finding>,
    pub(super) refusals: Vec<Finding>,
    /// Set when the named primary is not the running one.
    pub(super) promotion: Option<PromotionCase<'a>>,
    pub(super) health: Vec<HealthFinding>,
    /// Nodes whose TLS files changed after the server last loaded them.
    pub(super) stale_tls: BTreeSet<String>,
}

pub fn plan(
    cluster: &Cluster,
    desired: &Desired,
    observed: &Observed,
    passphrase: &Secret<String>,
    settings: PlanSettings,
) -> Plan {
    let mut planner = Planner {
        cluster,
        desired,
        observed,
        passphrase,
        settings,
        actions: Vec::new(),
        warnings: Vec::new(),
        refusals: Vec::new(),
        promotion: None,
        health: Vec::new(),
        stale_tls: BTreeSet::new(),
    };
    let blocked = planner.refusals_first();
    let mut promotion = None;
    if !blocked {
        match planner.promotion.take() {
            Some(case) => promotion = Some(planner.plan_promotion(case)),
            None => {
                let primary = cluster.node(&cluster.primary).expect("validated");
                match planner.facts(primary) {
                    Some(facts) if !facts.running => planner.plan_stopped_primary(primary, facts),
                    Some(facts) => {
                        planner.plan_primary(primary, facts);
                        for node in cluster.mirrors() {
                            planner.plan_mirror(node);
                        }
                    }
                    None => {}
                }
            }
        }
        for node in cluster
            .nodes
            .iter()
            .filter(|node| node.state == NodeState::Standalone)
        {
            planner.plan_standalone(node);
        }
        // A plan that stops to read the nodes again plans this after.
        if !planner.actions.iter().any(|a| a.kind == ActionKind::Replan) {
            planner.plan_ownership();
        }
    }
    for node in cluster
        .nodes
        .iter()
        .filter(|node| node.state != NodeState::Absent)
    {
        if let Some(facts) = planner.facts(node) {
            planner.verdict(node, facts);
        }
    }
    passfiles_before_new_password(cluster, &mut planner.actions);
    let summary = summarize(&planner.actions);
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        cluster: cluster.name.to_string(),
        file: cluster.file.display().to_string(),
        nodes: cluster
            .nodes
            .iter()
            .map(|node| planner.summary(node))
            .collect(),
        actions: planner.actions,
        warnings: planner.warnings,
        refusals: planner.refusals,
        health: planner.health,
        promotion,
        summary,
    }
}

/// A rotation writes every passfile before the role gets the new password:
/// a mirror that reconnects meanwhile finds the new one already there.
fn passfiles_before_new_password(cluster: &Cluster, actions: &mut Vec<Action>) {
    let Some(at) = actions.iter().position(|a| {
        matches!(
            a.kind,
            ActionKind::EnsureRole {
                create: false,
                set_password: true,
                ..
            }
        )
    }) else {
        return;
    };
    let is_passfile = |action: &Action| match &action.kind {
        ActionKind::WriteFile {
            path,
            sensitive: true,
            ..
        } => cluster
            .nodes
            .iter()
            .any(|node| node.name.as_str() == action.node && &node.postgres.passfile == path),
        _ => false,
    };
    let later: Vec<Action> = actions.drain(at..).collect();
    let (passfiles, rest): (Vec<Action>, Vec<Action>) = later.into_iter().partition(is_passfile);
    actions.extend(passfiles);
    actions.extend(rest);
}

pub fn summarize(actions: &[Action]) -> Summary {
    let mut summary = Summary::default();
    for action in actions {
        match (action.change, &action.kind) {
            (_, ActionKind::Restart { .. }) => summary.restarts += 1,
            (Change::Add, _) => summary.add += 1,
            (Change::Change, _) => summary.change += 1,
            (Change::Remove, _) => summary.remove += 1,
            (Change::Replace, _) => {
                summary.add += 1;
                summary.remove += 1;
            }
            (Change::Step, _) => {}
        }
    }
    summary
}

impl<'a> Planner<'a> {
    pub(super) fn facts(&self, node: &Node) -> Option<&'a Reached> {
        self.observed
            .nodes
            .get(&node.name)
            .and_then(NodeFacts::reached)
    }

    pub(super) fn desired_node(&self, node: &Node) -> &'a DesiredNode {
        self.desired
            .node(&node.name)
            .expect("every node has a desired state")
    }

    pub(super) fn warn(&mut self, node: Option<&Node>, message: String) {
        self.warnings.push(Finding {
            node: node.map(|n| n.name.to_string()),
            message,
        });
    }

    pub(super) fn refuse(&mut self, node: Option<&Node>, message: String) {
        self.refusals.push(Finding {
            node: node.map(|n| n.name.to_string()),
            message,
        });
    }

    pub(super) fn push(
        &mut self,
        node: &Node,
        change: Change,
        kind: ActionKind,
        reason: impl Into<String>,
        precondition: Precondition,
    ) {
        self.actions.push(Action {
            node: node.name.to_string(),
            change,
            kind,
            reason: reason.into(),
            precondition,
        });
    }

    fn summary(&self, node: &Node) -> NodeSummary {
        let actual = match self.observed.nodes.get(&node.name) {
            None | Some(NodeFacts::Skipped) => "not contacted".to_owned(),
            Some(NodeFacts::No { .. }) => "unreachable".to_owned(),
            Some(NodeFacts::Yes(facts)) => {
                match (&facts.data_dir, facts.running, facts.in_recovery) {
                    (_, true, Some(false)) => "primary".to_owned(),
                    (_, true, _) => match facts
                        .wal_receiver
                        .as_ref()
                        .and_then(|w| w.sender_host.as_ref().map(|h| (h, w.sender_port)))
                    {
                        Some((host, port)) => {
                            format!("standby of {}", self.cluster.name_of_sender(host, port))
                        }
                        None => "standby, not streaming".to_owned(),
                    },
                    (DataDir::Initialized { .. }, false, _) => "stopped".to_owned(),
                    (DataDir::Foreign, _, _) => "not PostgreSQL".to_owned(),
                    (DataDir::Unreadable { .. }, _, _) => "data directory unreadable".to_owned(),
                    (DataDir::Incomplete, _, _) => "clone interrupted".to_owned(),
                    _ => "empty".to_owned(),
                }
            }
        };
        let desired = match self.desired_node(node).role {
            DesiredRole::Primary => "primary".to_owned(),
            DesiredRole::Mirror => format!("mirror of {}", self.cluster.primary),
            DesiredRole::Standalone => "standalone".to_owned(),
            DesiredRole::Absent => "absent".to_owned(),
        };
        NodeSummary {
            name: node.name.to_string(),
            host: node.host.clone(),
            actual,
            desired,
        }
    }

    /// Records every refusal; true when planning any action would be unsafe.
    fn refusals_first(&mut self) -> bool {
        let cluster = self.cluster;
        let mut blocked = false;
        for node in cluster
            .nodes
            .iter()
            .filter(|node| node.state != NodeState::Absent)
        {
            if let Some(NodeFacts::No { reason }) = self.observed.nodes.get(&node.name) {
                let reason = reason
                    .strip_prefix(&format!("{}: ", node.name))
                    .unwrap_or(reason)
                    .to_owned();
                self.refuse(
                    Some(node),
                    format!("unreachable ({reason}); its actions are not planned"),
                );
            }
        }
        // A standalone server is meant to take writes of its own, and one
        // mirrorset detached is stopped before it rejoins.
        let primaries: Vec<&Node> = cluster
            .members()
            .filter(|node| {
                self.facts(node).is_some_and(|facts| {
                    facts.is_running_primary() && !facts.detached_by_mirrorset()
                })
            })
            .collect();
        if primaries.len() > 1 {
            let names = primaries
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(" and ");
            self.refuse(
                None,
                format!(
                    "split brain: {names} are both running as writable primaries; mirrorset will not touch the cluster \
                     until one is stopped (keep the one with the data you want, then plan again)"
                ),
            );
            blocked = true;
        }
        let versions: BTreeSet<(u32, String)> = cluster
            .members()
            .filter_map(|node| {
                let version = self.facts(node)?.postgres_version.as_ref()?;
                Some((major_version(version)?, node.name.to_string()))
            })
            .collect();
        let majors: BTreeSet<u32> = versions.iter().map(|(major, _)| *major).collect();
        if majors.len() > 1 {
            let list = versions
                .iter()
                .map(|(major, name)| format!("{name}: {major}"))
                .collect::<Vec<_>>()
                .join(", ");
            self.refuse(None, format!("PostgreSQL major versions differ ({list}); streaming replication needs one major version"));
            blocked = true;
        }
        let primary = cluster.node(&cluster.primary).expect("validated");
        if let Some(DataDir::Unreadable { owner, mode }) = self.facts(primary).map(|f| &f.data_dir)
        {
            self.refuse(Some(primary), unreadable(primary, owner, mode));
            return true;
        }
        if let Some(facts) = self.facts(primary) {
            let mirror_with_data = cluster
                .mirrors()
                .find(|node| self.facts(node).is_some_and(Reached::has_data));
            if !facts.has_data() {
                if let Some(mirror) = mirror_with_data {
                    self.refuse(
                        Some(primary),
                        format!(
                            "the primary {} has no data while {} has: cloning would copy nothing; \
                             name the node that holds the data as primary",
                            primary.name, mirror.name
                        ),
                    );
                } else {
                    self.refuse(
                        Some(primary),
                        format!(
                            "the primary {} has no data directory to replicate",
                            primary.name
                        ),
                    );
                }
                blocked = true;
            } else if !blocked && !facts.was_primary() {
                // The named primary is a standby: the primary moves to it.
                blocked = self.detect_promotion(primary, facts);
            }
        } else {
            blocked = true;
        }
        blocked
    }

    /// Writes a file when its content differs; returns whether it did.
    fn plan_file(
        &mut self,
        node: &Node,
        path: String,
        before: Option<&str>,
        after: String,
        mode: u32,
        reason: &str,
    ) -> bool {
        if before == Some(after.as_str()) {
            return false;
        }
        let change = if before.is_some() {
            Change::Change
        } else {
            Change::Add
        };
        self.push(
            node,
            change,
            ActionKind::WriteFile {
                path: path.clone(),
                mode,
                enforce_mode: false,
                before: before.map(str::to_owned),
                after: Some(after),
                sensitive: false,
            },
            reason,
            file_precondition(&path, before),
        );
        true
    }

    /// mirrorset.conf, the include line and the pg_hba block; returns whether any changed.
    pub(super) fn plan_config_files(&mut self, node: &Node, facts: &Reached) -> bool {
        let desired = self.desired_node(node);
        let layout = &node.postgres;
        let mut changed = self.plan_file(
            node,
            format!("{}/{MIRRORSET_CONF}", layout.config_dir),
            facts.files.mirrorset_conf.as_deref(),
            desired.mirrorset_conf.clone(),
            0o644,
            if facts.files.mirrorset_conf.is_some() {
                "mirrorset.conf differs from the cluster file"
            } else {
                "mirrorset.conf is missing"
            },
        );
        let conf_path = format!("{}/postgresql.conf", layout.config_dir);
        match facts.files.postgresql_conf.as_deref() {
            Some(conf) if !include_line_present(conf) => {
                changed |= self.plan_file(
                    node,
                    conf_path,
                    Some(conf),
                    with_include_line(conf),
                    0o644,
                    "postgresql.conf does not include mirrorset.conf",
                );
            }
            Some(_) => {}
            None => self.warn(
                Some(node),
                format!("{conf_path} does not exist; mirrorset.conf cannot be included"),
            ),
        }
        let hba_path = facts
            .files
            .hba_path
            .clone()
            .unwrap_or_else(|| format!("{}/pg_hba.conf", layout.config_dir));
        match facts.files.hba.as_deref() {
            Some(hba) => match with_block(hba, &desired.hba_lines) {
                Ok(after) => {
                    let reason = if matches!(crate::desired::locate_block(hba), Ok(Some(_))) {
                        "the mirrorset block of pg_hba.conf differs from the cluster file"
                    } else {
                        "pg_hba.conf has no mirrorset block: members cannot replicate from this node"
                    };
                    changed |=
                        self.plan_file(node, hba_path.clone(), Some(hba), after, 0o640, reason);
                    self.shadowing_rules(node, hba);
                }
                Err(broken) => self.refuse(
                    Some(node),
                    format!(
                        "{hba_path} {broken}: mirrorset does not guess where its block ends, because a wrong guess deletes rules; \
                         make it one block between the two markers (or remove both markers), then plan again"
                    ),
                ),
            },
            None => self.warn(
                Some(node),
                format!("{hba_path} does not exist; replication access cannot be granted"),
            ),
        }
        changed
    }

    /// Warns of rules before the managed block that could decide replication first.
    fn shadowing_rules(&mut self, node: &Node, hba: &str) {
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
                self.warn(
                    Some(node),
                    format!("pg_hba.conf line {} comes before the mirrorset block and may decide replication first: {}", index + 1, line.trim()),
                );
            }
        }
    }

    fn plan_passfile(&mut self, node: &Node, facts: &Reached) {
        let wanted = self.desired_node(node).passfile.clone();
        self.plan_secret_file(
            node,
            node.postgres.passfile.clone(),
            facts.passfile.as_ref(),
            &wanted,
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
    fn plan_secret_file(
        &mut self,
        node: &Node,
        path: String,
        found: Option<&PassfileFacts>,
        wanted: &Secret<String>,
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
            node,
            change,
            ActionKind::WriteFile {
                path,
                mode: 0o600,
                enforce_mode: true,
                before: None,
                after: None,
                sensitive: true,
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
                facts.files.tls_ca.as_deref(),
                &tls.ca,
                (
                    "the CA differs from [replication.tls] ca",
                    "the CA this node verifies servers against",
                ),
            ),
            (
                &tls.paths.cert,
                facts.files.tls_cert.as_deref(),
                &tls.cert,
                (
                    "the certificate differs from the cluster file's",
                    "the certificate this node presents as a server",
                ),
            ),
        ];
        for (path, before, after, (differs, missing)) in public {
            let reason = if before.is_some() { differs } else { missing };
            changed |= self.plan_file(node, path.clone(), before, after.clone(), 0o644, reason);
        }
        changed |= self.plan_secret_file(
            node,
            tls.paths.key.clone(),
            facts.tls_key.as_ref(),
            &tls.key,
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
    fn plan_auto_conf(&mut self, node: &Node, facts: &Reached) {
        let Some(auto) = &facts.files.auto_conf else {
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
            self.plan_file(
                node,
                format!("{}/postgresql.auto.conf", node.postgres.data_dir),
                Some(auto),
                kept,
                0o600,
                "postgresql.auto.conf (ALTER SYSTEM) sets what mirrorset.conf sets, and the server is stopped: the lines go from the file, so it starts with mirrorset.conf's values",
            );
            return;
        }
        for name in conf_settings(auto)
            .keys()
            .filter(|name| desired.settings.contains_key(*name))
        {
            self.push(
                node,
                Change::Remove,
                ActionKind::ResetSetting { setting: name.clone() },
                format!("postgresql.auto.conf (ALTER SYSTEM) sets {name}, which would override mirrorset.conf"),
                Precondition::None,
            );
        }
    }

    /// Settings the server would change: (name, postmaster context, raised above the running value).
    fn changed_settings(&self, node: &Node, facts: &Reached) -> Vec<(String, bool)> {
        let desired = self.desired_node(node);
        let mut changed = Vec::new();
        for (name, value) in &desired.settings {
            if let Some(observed) = facts.settings.get(name) {
                if setting_differs(value, observed) || observed.pending_restart {
                    changed.push((name.clone(), observed.context == "postmaster"));
                }
            }
        }
        // Removed from the file: back to the server's default.
        if let Some(old) = &facts.files.mirrorset_conf {
            for name in conf_settings(old)
                .into_keys()
                .filter(|name| !desired.settings.contains_key(name))
            {
                let postmaster = facts
                    .settings
                    .get(&name)
                    .is_some_and(|s| s.context == "postmaster");
                changed.push((name, postmaster));
            }
        }
        changed
    }

    pub(super) fn plan_service(&mut self, node: &Node, facts: &Reached, files_changed: bool) {
        if !facts.running {
            if self.rejected_after_plan(node, facts).is_some()
                || !self.overridden_names(node, facts).is_empty()
            {
                // It would not start, or not as the file says: the verdict names why.
                return;
            }
            self.push(
                node,
                Change::Step,
                ActionKind::Start,
                "the server is not running",
                Precondition::None,
            );
            return;
        }
        // ALTER SYSTEM RESET takes effect on reload; the value it removes
        // was never running (it only made pending_restart true).
        let resets: Vec<String> = self
            .actions
            .iter()
            .filter(|a| a.node == node.name.as_str())
            .filter_map(|a| match &a.kind {
                ActionKind::ResetSetting { setting } => Some(setting.clone()),
                _ => None,
            })
            .collect();
        let files_changed = files_changed || !resets.is_empty();
        let mut changed = self.changed_settings(node, facts);
        // Never restart into a value another file imposes: the verdict refuses it.
        let overridden = self.overridden_names(node, facts);
        changed.retain(|(name, _)| !overridden.contains(name));
        let desired = self.desired_node(node);
        changed.retain(|(name, _)| {
            !resets.contains(name)
                || matches!(
                    (desired.settings.get(name), facts.settings.get(name)),
                    (Some(value), Some(observed)) if setting_differs(value, observed)
                )
        });
        let restart: Vec<String> = changed
            .iter()
            .filter(|(_, postmaster)| *postmaster)
            .map(|(n, _)| n.clone())
            .collect();
        if !restart.is_empty() {
            self.push(
                node,
                Change::Step,
                ActionKind::Restart {
                    settings: restart.clone(),
                },
                format!(
                    "{} changed (postmaster context: needs a restart)",
                    restart.join(", ")
                ),
                Precondition::None,
            );
        } else if !changed.is_empty() || files_changed {
            let reason = if changed.is_empty() && self.stale_tls.contains(node.name.as_str()) {
                "the certificate, key or CA changed on disk after the server last loaded them"
                    .to_owned()
            } else if changed.is_empty() {
                "configuration files changed".to_owned()
            } else {
                format!(
                    "{} changed",
                    changed
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.push(
                node,
                Change::Step,
                ActionKind::Reload,
                reason,
                Precondition::None,
            );
        }
    }

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
    fn plan_stopped_primary(&mut self, primary: &Node, facts: &Reached) {
        self.plan_tls_files(primary, facts);
        self.plan_config_files(primary, facts);
        self.plan_passfile(primary, facts);
        self.plan_auto_conf(primary, facts);
        self.plan_service(primary, facts, false);
        if !self.starts(primary) {
            // It would not start as the file says: the verdict names why.
            return;
        }
        self.push(
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

    fn plan_role(&mut self, primary: &Node, facts: &Reached) {
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

    fn plan_slots(&mut self, primary: &Node, facts: &Reached) {
        let existing: BTreeMap<&str, _> = facts
            .slots
            .iter()
            .map(|slot| (slot.name.as_str(), slot))
            .collect();
        for (slot, node) in &self.desired.slots {
            if !existing.contains_key(slot.as_str()) {
                self.push(
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
            self.warn(
                Some(primary),
                format!("slot {} is not named in the cluster file ({}{retained}); mirrorset never drops it", slot.name, if slot.active { "active" } else { "inactive" }),
            );
        }
    }

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
        let rejoin = match self.rejoin(node, facts, primary, primary_facts) {
            Ok(rejoin) => rejoin,
            Err(message) => {
                self.refuse(Some(node), message);
                return;
            }
        };
        self.plan_passfile(node, facts);
        let tls_changed = self.plan_tls_files(node, facts);
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
                    self.push(
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
    }

    /// Every node's slot name, with its node: the slots a primary may hold.
    fn cluster_slots(&self) -> Vec<(String, String)> {
        self.cluster
            .nodes
            .iter()
            .map(|node| (node.slot.to_string(), node.name.to_string()))
            .collect()
    }

    /// How a mirror with existing data joins: it streams as it is, or is
    /// rewound, or cloned anew; Err when it must not be touched.
    fn rejoin(
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

    /// (what the mirror needs, what the primary still has) when the WAL a
    /// mirror would resume from is gone from the primary.
    fn wal_gone(
        &self,
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

    /// A copied data directory: the node's own files written again, against
    /// what the copy brought from the primary when its configuration lives
    /// in the data directory.
    fn plan_files_after_copy(
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
                predicted.files = crate::facts::observed::Files {
                    postgresql_conf: primary_facts
                        .files
                        .postgresql_conf
                        .as_deref()
                        .map(with_include_line),
                    mirrorset_conf: Some(primary_desired.mirrorset_conf.clone()),
                    auto_conf: None,
                    hba_path: Some(format!("{config_dir}/pg_hba.conf")),
                    hba: primary_facts
                        .files
                        .hba
                        .as_deref()
                        .and_then(|hba| with_block(hba, &primary_desired.hba_lines).ok()),
                    tls_ca: facts.files.tls_ca.clone(),
                    tls_cert: facts.files.tls_cert.clone(),
                };
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

    /// standby.signal, start, and wait until it streams.
    fn start_as_mirror(&mut self, node: &Node, primary: &Node) {
        self.push(
            node,
            Change::Add,
            ActionKind::WriteStandbySignal {
                path: format!("{}/standby.signal", node.postgres.data_dir),
            },
            "a mirror starts in recovery",
            Precondition::None,
        );
        self.push(
            node,
            Change::Step,
            ActionKind::Start,
            format!("{} starts as a mirror", node.name),
            Precondition::None,
        );
        self.wait_streaming(node, primary);
    }

    /// A mirror that keeps its data: its files, service, and whether to wait for it.
    fn plan_streaming_mirror(
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
                a.node == node.name.as_str()
                    || (a.node == primary.name.as_str() && is_access_change(&a.kind))
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

    /// The plan so far starts or restarts `node`.
    fn starts(&self, node: &Node) -> bool {
        self.actions.iter().any(|a| {
            a.node == node.name.as_str()
                && matches!(a.kind, ActionKind::Restart { .. } | ActionKind::Start)
        })
    }

    fn wait_streaming(&mut self, mirror: &Node, primary: &Node) {
        self.push(
            mirror,
            Change::Step,
            ActionKind::WaitStreaming {
                upstream: primary.name.to_string(),
            },
            "apply is done when the mirror streams",
            Precondition::None,
        );
    }

    /// Settings a standby must match: when the primary raises them, its
    /// mirrors restart first; when it lowers them, the primary goes first.
    fn order_restarts(&mut self, mirror: &Node) {
        let primary = self.cluster.primary.to_string();
        let Some(primary_facts) = self
            .cluster
            .node(&self.cluster.primary)
            .and_then(|p| self.facts(p))
        else {
            return;
        };
        let desired_primary = self.desired.node(&self.cluster.primary).expect("validated");
        let raising = STANDBY_MUST_MATCH.iter().any(|name| {
            let wanted = desired_primary
                .settings
                .get(*name)
                .and_then(|v| v.to_string().parse::<i64>().ok());
            let running = primary_facts
                .settings
                .get(*name)
                .and_then(|s| s.setting.parse::<i64>().ok());
            matches!((wanted, running), (Some(w), Some(r)) if w > r)
        });
        if !raising {
            return;
        }
        let is_restart =
            |a: &Action, node: &str| a.node == node && matches!(a.kind, ActionKind::Restart { .. });
        let (Some(primary_at), Some(mirror_restart)) = (
            self.actions.iter().position(|a| is_restart(a, &primary)),
            self.actions
                .iter()
                .position(|a| is_restart(a, mirror.name.as_str())),
        ) else {
            return;
        };
        if mirror_restart < primary_at {
            return;
        }
        // The mirror's own steps up to its restart (its files first) move
        // before the primary's restart; waiting for it to stream stays last.
        let first = self
            .actions
            .iter()
            .position(|a| a.node == mirror.name.as_str())
            .expect("the mirror has a restart action");
        let moved: Vec<Action> = self.actions.drain(first..=mirror_restart).collect();
        self.actions.splice(primary_at..primary_at, moved);
    }
}

/// Why a node whose data directory the PostgreSQL user cannot read is not touched.
fn unreadable(node: &Node, owner: &str, mode: &str) -> String {
    format!(
        "{} is owned by {owner} with mode {mode}: {} cannot look inside, so what it holds is unknown; \
         give it to the PostgreSQL user (chown, chmod 700), then plan again",
        node.postgres.data_dir, node.postgres.os_user
    )
}

/// A change on the primary that can decide whether a mirror may log in.
fn is_access_change(kind: &ActionKind) -> bool {
    match kind {
        ActionKind::WriteFile { path, .. } => path.ends_with("pg_hba.conf"),
        ActionKind::EnsureRole { .. } | ActionKind::Reload | ActionKind::Restart { .. } => true,
        _ => false,
    }
}

/// How the plan words a secret file's state.
struct SecretFileWords {
    missing: &'static str,
    differs: &'static str,
    name: &'static str,
    unsafe_mode: &'static str,
}

/// How a mirror with existing data joins the cluster.
enum Rejoin {
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

pub(super) fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
