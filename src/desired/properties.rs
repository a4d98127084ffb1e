//! A properties file (`key=value` lines, Java's format) edited by keys:
//! set keys are written `key=value`, unset keys removed, every other line
//! kept byte for byte, line endings included. Pure.

use std::collections::{BTreeMap, BTreeSet};

/// A value as a properties line carries it: `\` escaped, and a leading
/// space kept (validate refuses control characters).
fn escape_value(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\");
    match escaped.strip_prefix(' ') {
        Some(rest) => format!("\\ {rest}"),
        None => escaped,
    }
}

/// The key of a logical line, when it is a property (not blank, not a comment).
fn key_of(line: &str) -> Option<&str> {
    let text = line.trim_start();
    if text.is_empty() || text.starts_with(['#', '!']) {
        return None;
    }
    let end = text
        .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
        .unwrap_or(text.len());
    Some(&text[..end])
}

/// Whether a physical line continues on the next (an odd count of trailing backslashes).
fn continues(line: &str) -> bool {
    let body = line.trim_end_matches(['\r', '\n']);
    body.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

pub fn edit_properties(
    text: &str,
    set: &BTreeMap<String, String>,
    unset: &BTreeSet<String>,
) -> String {
    let ending = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len());
    let mut written: BTreeSet<&str> = BTreeSet::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(first) = lines.next() {
        // A logical line: the physical lines a trailing backslash joins.
        let mut logical = first.to_owned();
        let mut last = first;
        while continues(last) {
            match lines.next() {
                Some(next) => {
                    logical.push_str(next);
                    last = next;
                }
                None => break,
            }
        }
        let line_ending = if logical.ends_with("\r\n") {
            "\r\n"
        } else if logical.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        match key_of(&logical) {
            Some(key) if unset.contains(key) => {}
            Some(key) if set.contains_key(key) => {
                let (key, value) = set.get_key_value(key).expect("just found");
                if written.insert(key) {
                    let wanted = format!("{key}={}", escape_value(value));
                    // A line that already says it stays as written.
                    if logical.trim_end_matches(['\r', '\n']) == wanted {
                        out.push_str(&logical);
                    } else {
                        out.push_str(&wanted);
                        out.push_str(if line_ending.is_empty() {
                            ending
                        } else {
                            line_ending
                        });
                    }
                }
            }
            _ => out.push_str(&logical),
        }
    }
    for (key, value) in set {
        if !written.contains(key.as_str()) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(ending);
            }
            out.push_str(&format!("{key}={}{ending}", escape_value(value)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, set: &[(&str, &str)], unset: &[&str]) -> String {
        edit_properties(
            text,
            &set.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            &unset.iter().map(|k| k.to_string()).collect(),
        )
    }

    #[test]
    fn unset_removes_every_line_of_a_key_and_keeps_the_rest_byte_for_byte() {
        let text = "# the app's settings\nreadonly.mode=true\nserver.port = 8443\n\n! old comment\nreadonly.mode: false\n";
        assert_eq!(
            edit(text, &[], &["readonly.mode"]),
            "# the app's settings\nserver.port = 8443\n\n! old comment\n"
        );
    }

    #[test]
    fn set_rewrites_the_first_line_drops_repeats_and_appends_what_is_missing() {
        let text = "readonly.mode = false\nx=1\nreadonly.mode=false\n";
        assert_eq!(
            edit(text, &[("readonly.mode", "true"), ("new.key", "a b")], &[]),
            "readonly.mode=true\nx=1\nnew.key=a b\n"
        );
        // Already right: nothing changes, not even spacing elsewhere.
        let right = "a = 1\nreadonly.mode=true\n";
        assert_eq!(edit(right, &[("readonly.mode", "true")], &[]), right);
        // No final newline, CRLF files keep CRLF.
        assert_eq!(edit("x=1", &[("y", "2")], &[]), "x=1\ny=2\n");
        assert_eq!(edit("x=1\r\ny=0\r\n", &[("y", "2")], &[]), "x=1\r\ny=2\r\n");
    }

    #[test]
    fn continued_lines_are_one_property_and_values_are_escaped() {
        let text = "paths=a,\\\n  b\nother=1\n";
        assert_eq!(edit(text, &[], &["paths"]), "other=1\n");
        assert_eq!(
            edit("", &[("dir", "C:\\app"), ("pad", " x")], &[]),
            "dir=C:\\\\app\npad=\\ x\n"
        );
    }
}
