//! libpq connection strings from key/value pairs, quoted so any value is
//! safe. Pure.

/// `key=value` pairs joined by spaces; values quoted when needed.
pub fn conninfo(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            // libpq ends an unquoted value at any white space (isspace: a
            // tab or a form feed too), and reads \\ and \' inside quotes.
            let plain = !value.is_empty()
                && !value
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c == '\x0b')
                && !value.contains(['\'', '\\', '=']);
            if plain {
                format!("{key}={value}")
            } else {
                format!(
                    "{key}='{}'",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_what_libpq_needs_quoted() {
        assert_eq!(
            super::conninfo(&[("host", "10.0.0.1"), ("passfile", "/a b/it's")]),
            "host=10.0.0.1 passfile='/a b/it\\'s'"
        );
        assert_eq!(
            super::conninfo(&[("passfile", "/a\tb"), ("sslrootcert", "/c\x0bd")]),
            "passfile='/a\tb' sslrootcert='/c\x0bd'"
        );
    }
}
