//! A health finding in words, from its stable code and data: what is
//! wrong, where, and what to do. Pure.

use crate::plan::{HealthIssue, SlotView};

pub fn describe_health(issue: &HealthIssue) -> String {
    let at = |file: &str, line: Option<i32>| match line {
        Some(line) => format!("{file} line {line}"),
        None => file.to_owned(),
    };
    match issue {
        HealthIssue::ConfigFileError {
            file,
            line,
            setting,
            error,
        } => format!(
            "PostgreSQL rejects {}{}: {error}; until it is fixed a reload applies nothing from that file and a restart fails",
            at(file, *line),
            setting
                .as_deref()
                .map(|name| format!(" ({name})"))
                .unwrap_or_default()
        ),
        HealthIssue::HbaFileError { error } => format!(
            "PostgreSQL rejects pg_hba.conf ({error}); a reload keeps the old rules until it is fixed"
        ),
        HealthIssue::UnknownSetting {
            setting,
            suggestion,
        } => format!(
            "[settings] {setting}: this server has no such setting{}; nothing is written until the cluster file is fixed",
            suggestion
                .as_deref()
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default()
        ),
        HealthIssue::InvalidSettingValue {
            setting,
            value,
            accepted,
        } => format!(
            "[settings] {setting} = {value}: this server accepts {accepted}; nothing is written until the cluster file is fixed"
        ),
        HealthIssue::SettingOverridden {
            setting,
            value,
            file,
            line,
            wanted,
        } => format!(
            "{} sets {setting} = {value} after mirrorset.conf, so PostgreSQL would run with it instead of {wanted}: \
             move the value you want into the cluster file ([settings] or [nodes.<name>.settings]) and delete that line; \
             nothing is reloaded or restarted until then",
            at(file, *line)
        ),
        HealthIssue::ConfigurationRejected {
            error,
            server_running: false,
        } => format!(
            "the server is stopped and would not start: {error}; fix the file named, then plan again"
        ),
        HealthIssue::ConfigurationRejected {
            error,
            server_running: true,
        } => format!(
            "PostgreSQL rejects its configuration as a restart would read it: {error}; nothing is reloaded or restarted until the file named is fixed"
        ),
        HealthIssue::ReplayPaused => "receives WAL but does not replay it (replay is paused): what it serves falls further behind; `SELECT pg_wal_replay_resume()` on it resumes".to_owned(),
        HealthIssue::ApplicationFileMissing { path, section } => format!(
            "{section} names {path}, which is not there: mirrorset edits or copies it, never makes it; install the application's file, then plan again"
        ),
        HealthIssue::MirrorNotStreaming {
            upstream,
            receiver,
            slot,
            cause,
        } => {
            let receiver = match receiver {
                Some(r) => format!(
                    "its WAL receiver is {} from {}:{} through slot {}",
                    r.status,
                    r.sender_host.as_deref().unwrap_or("?"),
                    r.sender_port.map_or("?".to_owned(), |p| p.to_string()),
                    r.slot_name.as_deref().unwrap_or("(none)")
                ),
                None => "it has no WAL receiver".to_owned(),
            };
            let receiver = match slot {
                Some(slot) => format!(
                    "{receiver}; its slot on {upstream} is {}",
                    match slot {
                        SlotView::Missing => "missing",
                        SlotView::Active => "active",
                        SlotView::Inactive => "inactive",
                        SlotView::Lost =>
                            "lost: the WAL it held is gone (max_slot_wal_keep_size)",
                    }
                ),
                None => receiver,
            };
            let cause = cause
                .as_deref()
                .map(|c| format!("; the last error in its log: {c}"))
                .unwrap_or_default();
            format!(
                "does not stream from {upstream} through its slot and nothing planned changes that: {receiver}{cause}"
            )
        }
    }
}
