//! PostgreSQL's own verdict, in the plan: the errors pg_file_settings and
//! pg_hba_file_rules report, the settings the cluster file names checked
//! against pg_settings, an owned setting that a file read after
//! mirrorset.conf overrides, and a stopped server whose configuration
//! `postgres -C` rejects. Each becomes a `HealthFinding`. Pure.

use std::collections::BTreeSet;

use super::action::{ActionKind, FindingCode};
use super::compute::Planner;
use super::health::{HealthFinding, HealthIssue};
use super::settings::check_value;
use crate::desired::MIRRORSET_CONF;
use crate::facts::Reached;
use crate::facts::observed::FileSetting;
use crate::model::{Node, SettingValue};

impl Planner<'_> {
    /// Records a finding once, however many parts of the plan meet it.
    pub(super) fn unhealthy(&mut self, node: &Node, issue: HealthIssue) {
        let finding = HealthFinding {
            node: node.name.to_string(),
            issue,
        };
        if !self.health.contains(&finding) {
            self.health.push(finding);
        }
    }

    /// What PostgreSQL says of the node's configuration; called once the
    /// node's actions are planned (a file the plan rewrites is repaired).
    pub(super) fn verdict(&mut self, node: &Node, facts: &Reached) {
        let rewrites_own_file = self.rewrites(node, &is_own_file);
        let rewrites_hba = self.rewrites(node, &|path: &str| {
            Some(path) == facts.files.hba_path.as_deref()
        });
        if !facts.running {
            if let Some(error) = self.rejected_after_plan(node, facts) {
                self.unhealthy(
                    node,
                    HealthIssue::ConfigurationRejected {
                        error: crate::facts::parse::server_messages(error),
                        server_running: false,
                    },
                );
            }
            for issue in self.overridden_in_postgresql_conf(node, facts) {
                self.unhealthy(node, issue);
            }
            return;
        }
        let mut refused_names = BTreeSet::new();
        for (name, value) in &node.settings {
            // A dotted name is an extension's: PostgreSQL takes it as a
            // placeholder until the extension is loaded.
            if !facts.settings.contains_key(name) && !name.contains('.') {
                refused_names.insert(name.clone());
                self.unhealthy(
                    node,
                    HealthIssue::UnknownSetting {
                        setting: name.clone(),
                        suggestion: nearest(name, &facts.known_settings),
                    },
                );
            } else if let Some(limits) = facts.setting_limits.get(name) {
                // What the postmaster checks at start, beyond each value's range.
                let reserved = facts
                    .settings
                    .get("superuser_reserved_connections")
                    .and_then(|s| s.setting.parse::<i64>().ok());
                let too_few_connections = match (name.as_str(), value, reserved) {
                    ("max_connections", SettingValue::Integer(n), Some(reserved)) => *n <= reserved,
                    _ => false,
                };
                let checked = if too_few_connections {
                    Err(format!(
                        "more than superuser_reserved_connections ({}), or the server does not start",
                        reserved.unwrap_or_default()
                    ))
                } else {
                    check_value(value, limits)
                };
                if let Err(accepted) = checked {
                    refused_names.insert(name.clone());
                    self.unhealthy(
                        node,
                        HealthIssue::InvalidSettingValue {
                            setting: name.clone(),
                            value: plain(value),
                            accepted,
                        },
                    );
                }
            }
        }
        for row in facts.file_settings.iter().filter(|row| row.is_error()) {
            let own = row.file.as_deref().is_some_and(is_own_file);
            let named = row
                .name
                .as_ref()
                .is_some_and(|name| refused_names.contains(name));
            // A row of mirrorset.conf that this plan rewrites, or that a
            // finding above already names, needs no second word.
            if own && (rewrites_own_file || named) {
                continue;
            }
            self.unhealthy(
                node,
                HealthIssue::ConfigFileError {
                    file: row.file.clone().unwrap_or_default(),
                    line: row.line,
                    setting: row.name.clone(),
                    error: row.error.clone().unwrap_or_default(),
                },
            );
        }
        // pg_file_settings names the row; postgres -C also sees what it
        // does not (a value a restart would refuse, a file it cannot read).
        let file_errors = self.health.iter().any(|f| {
            f.node == node.name.as_str() && matches!(f.issue, HealthIssue::ConfigFileError { .. })
        });
        if let Some(error) = self.rejected_after_plan(node, facts) {
            if !file_errors {
                self.unhealthy(
                    node,
                    HealthIssue::ConfigurationRejected {
                        error: crate::facts::parse::server_messages(error),
                        server_running: true,
                    },
                );
            }
        }
        let block = facts
            .files
            .hba()
            .and_then(|hba| crate::desired::locate_block(hba).ok().flatten());
        for error in &facts.hba_errors {
            // An error inside the block this plan rewrites is repaired by it.
            let line: Option<usize> = error
                .strip_prefix("line ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok());
            let in_block = matches!((line, block), (Some(line), Some(block)) if line > block.begin && line <= block.end + 1);
            if rewrites_hba && in_block {
                continue;
            }
            self.unhealthy(
                node,
                HealthIssue::HbaFileError {
                    error: error.clone(),
                },
            );
        }
        self.overrides(node, facts);
    }

    /// Whether the plan so far writes a file of `node` that `wanted` names.
    fn rewrites(&self, node: &Node, wanted: &dyn Fn(&str) -> bool) -> bool {
        self.actions.iter().any(|action| {
            action.node == node.name
                && matches!(&action.kind, ActionKind::WriteFile { path, .. } if wanted(path))
        })
    }

    /// What `postgres -C` rejects that the plan does not repair: a
    /// rejection that names only mirrorset.conf, which the plan rewrites,
    /// is gone once it runs.
    pub(super) fn rejected_after_plan<'f>(
        &self,
        node: &Node,
        facts: &'f Reached,
    ) -> Option<&'f str> {
        let error = facts.config_rejected.as_deref()?;
        let repaired = only_names_own_file(error) && self.rewrites(node, &is_own_file);
        (!repaired).then_some(error)
    }

    /// The names of owned settings another file overrides: PostgreSQL's
    /// rows when it reads mirrorset.conf, else mirrorset's own reading of
    /// postgresql.conf after the include line.
    pub(super) fn overridden_names(&self, node: &Node, facts: &Reached) -> Vec<String> {
        if facts.running && reads_own_file(facts) {
            self.overridden(node, facts)
                .iter()
                .filter_map(|row| row.name.clone())
                .collect()
        } else {
            self.overridden_in_postgresql_conf(node, facts)
                .into_iter()
                .filter_map(|issue| match issue {
                    HealthIssue::SettingOverridden { setting, .. } => Some(setting),
                    _ => None,
                })
                .collect()
        }
    }

    /// Owned settings whose last row, the one PostgreSQL uses, is in a file
    /// read after mirrorset.conf (postgresql.auto.conf is reset by the plan).
    fn overridden<'f>(&self, node: &Node, facts: &'f Reached) -> Vec<&'f FileSetting> {
        let own_first = facts
            .file_settings
            .iter()
            .filter(|row| row.file.as_deref().is_some_and(is_own_file))
            .map(|row| row.seqno)
            .min();
        let Some(own_first) = own_first else {
            return Vec::new();
        };
        self.desired_node(node)
            .settings
            .keys()
            .filter_map(|name| winning_row(facts, name))
            .filter(|winner| {
                winner.file.as_deref().is_some_and(|file| {
                    !is_own_file(file) && !file.ends_with("/postgresql.auto.conf")
                }) && winner.seqno > own_first
            })
            .collect()
    }

    fn overrides(&mut self, node: &Node, facts: &Reached) {
        if !reads_own_file(facts) {
            // Not included yet, or mirrorset.conf is missing: read the file.
            for issue in self.overridden_in_postgresql_conf(node, facts) {
                self.unhealthy(node, issue);
            }
            return;
        }
        for winner in self.overridden(node, facts) {
            let name = winner.name.clone().unwrap_or_default();
            let wanted = self.desired_node(node).settings.get(&name).map(plain);
            self.unhealthy(
                node,
                HealthIssue::SettingOverridden {
                    setting: name,
                    value: winner.setting.clone().unwrap_or_default(),
                    file: winner.file.clone().unwrap_or_default(),
                    line: winner.line,
                    wanted: wanted.unwrap_or_default(),
                },
            );
        }
        let wanted = self.desired_node(node).settings.clone();
        for (name, value) in &wanted {
            let Some(winner) = winning_row(facts, name) else {
                continue;
            };
            let file = winner.file.clone().unwrap_or_default();
            let rows: Vec<&FileSetting> = facts
                .file_settings
                .iter()
                .filter(|row| row.name.as_deref() == Some(name.as_str()) && !row.is_error())
                .collect();
            if is_own_file(&file) || file.ends_with("/postgresql.auto.conf") {
                for shadowed in rows.iter().filter(|row| {
                    row.file.as_deref().is_some_and(|f| {
                        !is_own_file(f)
                            && !f.ends_with("/postgresql.conf")
                            && !f.ends_with("/postgresql.auto.conf")
                    }) && !row
                        .setting
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&plain(value)))
                }) {
                    self.warn(FindingCode::SettingShadowed,
                        Some(node),
                        format!(
                            "{} line {} sets {name} = {}, which mirrorset.conf overrides with {}; delete it there to avoid confusion",
                            shadowed.file.as_deref().unwrap_or(""),
                            shadowed.line.unwrap_or(0),
                            shadowed.setting.as_deref().unwrap_or(""),
                            plain(value)
                        ),
                    );
                }
            }
        }
    }
}

impl Planner<'_> {
    /// A stopped server cannot be asked: mirrorset's own reading of
    /// postgresql.conf finds an owned setting set again after the include
    /// line (a start would run with it, or fail on it).
    fn overridden_in_postgresql_conf(&self, node: &Node, facts: &Reached) -> Vec<HealthIssue> {
        let Some(conf) = facts
            .files
            .text(&crate::desired::read_paths(node).postgresql_conf)
        else {
            return Vec::new();
        };
        let lines = crate::facts::parse::conf_lines(conf);
        let Some(include) = lines.iter().position(|(_, name, value)| {
            name.starts_with("include") && value.ends_with(MIRRORSET_CONF)
        }) else {
            return Vec::new();
        };
        let wanted = &self.desired_node(node).settings;
        lines[include + 1..]
            .iter()
            .filter_map(|(line, name, value)| {
                Some(HealthIssue::SettingOverridden {
                    setting: name.clone(),
                    value: value.clone(),
                    file: format!("{}/postgresql.conf", node.postgres.config_dir),
                    line: Some(*line as i32),
                    wanted: plain(wanted.get(name)?),
                })
            })
            .collect()
    }
}

/// The row of `name` PostgreSQL uses: the last one read without an error.
fn winning_row<'f>(facts: &'f Reached, name: &str) -> Option<&'f FileSetting> {
    facts
        .file_settings
        .iter()
        .filter(|row| row.name.as_deref() == Some(name) && !row.is_error())
        .max_by_key(|row| row.seqno)
}

/// PostgreSQL reads mirrorset.conf now (it has rows in pg_file_settings).
fn reads_own_file(facts: &Reached) -> bool {
    facts
        .file_settings
        .iter()
        .any(|row| row.file.as_deref().is_some_and(is_own_file))
}

/// Every file PostgreSQL's messages name (`file "…"`) is mirrorset.conf.
fn only_names_own_file(messages: &str) -> bool {
    let named: Vec<&str> = messages
        .split("file \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    !named.is_empty() && named.iter().all(|file| is_own_file(file))
}

fn is_own_file(path: &str) -> bool {
    path.ends_with(&format!("/{MIRRORSET_CONF}"))
}

/// A value as the operator wrote it, without config quoting.
fn plain(value: &SettingValue) -> String {
    match value {
        SettingValue::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The known setting name nearest to a misspelled one, when one is near.
fn nearest(name: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_setting() {
        let known: Vec<String> = ["shared_buffers", "shared_preload_libraries", "work_mem"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            nearest("shared_bufers", &known).as_deref(),
            Some("shared_buffers")
        );
        assert_eq!(nearest("completely_else", &known), None);
    }
}
