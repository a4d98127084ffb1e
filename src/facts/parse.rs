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
/// lowercase name, unquoted value), in file order. A line PostgreSQL reads
/// as a setting gives the name and value it reads (`name = value`,
/// `name value`, `name'value'`; quoted values with `''` and backslash
/// escapes); other lines are read leniently.
pub fn conf_lines(text: &str) -> Vec<(usize, String, String)> {
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = strip_comment(line).trim_matches(is_blank);
        if line.is_empty() {
            continue;
        }
        // The name is PostgreSQL's identifier (letters, digits, `_`, `.`
        // and bytes above ASCII): it ends at anything else, so
        // `name+1` is name and +1, as guc-file.l reads it.
        let end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || !c.is_ascii()))
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(end);
        let rest = rest.trim_start_matches(is_blank);
        let value = match rest.strip_prefix('=') {
            Some(value) => value.trim_start_matches(is_blank),
            None if rest.is_empty() => continue,
            None => rest,
        };
        settings.push((index + 1, name.to_ascii_lowercase(), unquote(value)));
    }
    settings
}

/// White space between tokens of a postgresql.conf line, as PostgreSQL has it.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

/// The line without a `#` comment that is outside quotes (inside them a
/// backslash escapes the next character, a quote included).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '\'' => quoted = !quoted,
            '#' if !quoted => return &line[..index],
            _ => {}
        }
    }
    line
}

/// A quoted value as PostgreSQL reads it: `''` is a quote, and a backslash
/// escapes: \b \f \n \r \t, up to three octal digits, or the character
/// itself. Anything else is kept as written.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('\'') else {
        return value.to_owned();
    };
    let mut bytes = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                bytes.push(b'\'');
            }
            '\'' => {
                // PostgreSQL's value ends at a NUL, as the C string it becomes.
                if let Some(nul) = bytes.iter().position(|b| *b == 0) {
                    bytes.truncate(nul);
                }
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            '\\' => {
                let Some(escaped) = chars.next() else {
                    break;
                };
                match escaped {
                    'b' => bytes.push(0x08),
                    'f' => bytes.push(0x0c),
                    'n' => bytes.push(b'\n'),
                    'r' => bytes.push(b'\r'),
                    't' => bytes.push(b'\t'),
                    '0'..='7' => {
                        let mut octal = escaped as u32 - '0' as u32;
                        for _ in 0..2 {
                            match chars.peek() {
                                Some(digit @ '0'..='7') => {
                                    octal = octal * 8 + (*digit as u32 - '0' as u32);
                                    chars.next();
                                }
                                _ => break,
                            }
                        }
                        // PostgreSQL keeps the low byte of \400 and above.
                        bytes.push(octal as u8);
                    }
                    other => bytes.extend(other.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            other => bytes.extend(other.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    // No closing quote: not a value PostgreSQL reads; kept as written.
    value.to_owned()
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
    fn a_name_ends_where_postgresql_identifiers_end() {
        // Found by the conf_parser fuzz target: guc-file.l reads `p1+2` as p1 = +2.
        assert_eq!(
            conf_lines("p1+2\n"),
            [(1, "p1".to_owned(), "+2".to_owned())]
        );
        assert_eq!(
            conf_lines("ext.setting='x'\n"),
            [(1, "ext.setting".to_owned(), "x".to_owned())]
        );
    }

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
    fn reads_quoted_values_and_names_as_postgres_does() {
        // Found by fuzz/fuzz_targets/render_conf.rs: mirrorset writes a
        // backslash as \\, which PostgreSQL reads back as one, but this
        // parser kept both; and by conf_parser.rs: `name'value'` is a
        // setting to PostgreSQL, and so is `name 'a=b'`.
        let text = "a = 'x\\\\y'\nb = 'it\\'s # not a comment' # comment\nc'v'\nd 'k=v'\ne = '\\101\\tz\\q'\nf = 'a\\0b'\n";
        let settings = conf_settings(text);
        assert_eq!(settings["a"], "x\\y");
        assert_eq!(settings["b"], "it's # not a comment");
        assert_eq!(settings["c"], "v");
        assert_eq!(settings["d"], "k=v");
        assert_eq!(settings["e"], "A\tzq");
        assert_eq!(settings["f"], "a");
        for value in ["plain", "it's", "a\\b", "\\'", "#", "''", "\\"] {
            let line = format!("x = {}", crate::model::SettingValue::String(value.into()));
            assert_eq!(conf_settings(&line)["x"], value, "{line}");
        }
        assert_eq!(
            conf_lines("x\n= 5\n"),
            vec![(2, String::new(), "5".to_owned())]
        );
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
