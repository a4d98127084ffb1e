//! Parsers for what nodes print: `key=value` probe output and
//! `postgres --version`. Pure.

use std::collections::BTreeMap;

/// `key=value` lines into a map; lines without `=` are ignored, later keys win.
pub fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
pub fn postgres_version(text: &str) -> Option<String> {
    let after = text.split("(PostgreSQL)").nth(1)?;
    let version = after.split_whitespace().next()?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_owned())
}

/// The major version of "15.18" or "9.6.24": 15, 9.6 counted as 9.
pub fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_key_values() {
        let map = key_values(
            "version=postgres (PostgreSQL) 15.18\ninitialized=yes\nnoise\nlocal_ready=0\n",
        );
        assert_eq!(map["initialized"], "yes");
        assert_eq!(map["local_ready"], "0");
        assert_eq!(map["version"], "postgres (PostgreSQL) 15.18");
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn reads_versions() {
        assert_eq!(
            postgres_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").as_deref(),
            Some("15.18")
        );
        assert_eq!(
            postgres_version("postgres (PostgreSQL) 16beta1").as_deref(),
            Some("16beta1")
        );
        assert_eq!(postgres_version("sh: postgres: not found"), None);
        assert_eq!(major_version("15.18"), Some(15));
    }
}

/// Settings a postgresql.conf-style file sets, last one winning, values unquoted.
pub fn conf_settings(text: &str) -> BTreeMap<String, String> {
    conf_lines(text)
        .into_iter()
        .map(|(_, name, value)| (name, value))
        .collect()
}

/// Each setting line of a postgresql.conf-style file: (1-based line,
/// lowercase name, unquoted value), in file order.
pub fn conf_lines(text: &str) -> Vec<(usize, String, String)> {
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = strip_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name.trim(), value.trim()),
            None => match line.split_once(char::is_whitespace) {
                Some((name, value)) => (name.trim(), value.trim()),
                None => continue,
            },
        };
        settings.push((index + 1, name.to_ascii_lowercase(), unquote(value)));
    }
    settings
}

/// The line without a `#` comment that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (index, c) in line.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '#' if !quoted => return &line[..index],
            _ => {}
        }
    }
    line
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'").replace("\\'", "'"),
        None => value.to_owned(),
    }
}

/// PostgreSQL's log lines without their timestamp and pid prefix, joined.
pub fn server_messages(text: &str) -> String {
    text.lines()
        .map(server_message)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// "2026-… UTC [42] FATAL:  could not …" -> "FATAL: could not …".
pub fn server_message(line: &str) -> String {
    let start = [
        "PANIC:", "FATAL:", "ERROR:", "LOG:", "WARNING:", "DETAIL:", "HINT:",
    ]
    .iter()
    .filter_map(|level| line.find(level))
    .min()
    .unwrap_or(0);
    line[start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// pg_controldata's "Key:   value" lines.
pub fn controldata(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod conf_tests {
    use super::*;

    #[test]
    fn reads_conf_files_like_postgres() {
        let text = "# comment\nwal_level = replica # why\nlisten_addresses = 'a,#b'\nport 5433\nname = 'it''s'\nwal_level = logical\n";
        let settings = conf_settings(text);
        assert_eq!(settings["wal_level"], "logical");
        assert_eq!(settings["listen_addresses"], "a,#b");
        assert_eq!(settings["port"], "5433");
        assert_eq!(settings["name"], "it's");
    }

    #[test]
    fn reads_server_messages() {
        let text = "2026-12-02 15:45:06.878 GMT [4983] LOG:  unrecognized configuration parameter \"x\" in file \"/e/mirrorset.conf\" line 3\n2026-12-02 15:45:06.878 GMT [4983] FATAL:  configuration file \"/e/mirrorset.conf\" contains errors\n";
        assert_eq!(
            server_messages(text),
            "LOG: unrecognized configuration parameter \"x\" in file \"/e/mirrorset.conf\" line 3; FATAL: configuration file \"/e/mirrorset.conf\" contains errors"
        );
    }

    #[test]
    fn reads_controldata() {
        let text = "pg_control version number:            1300\nDatabase system identifier:           7312345\nLatest checkpoint's TimeLineID:       2\nDatabase cluster state:               in production\n";
        let control = controldata(text);
        assert_eq!(control["Database system identifier"], "7312345");
        assert_eq!(control["Latest checkpoint's TimeLineID"], "2");
        assert_eq!(control["Database cluster state"], "in production");
    }
}
