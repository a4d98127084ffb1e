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
