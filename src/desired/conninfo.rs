//! libpq connection strings from key/value pairs, quoted so any value is
//! safe. Pure.

/// `key=value` pairs joined by spaces; values quoted when needed.
pub fn conninfo(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            let plain = !value.is_empty() && !value.contains([' ', '\'', '\\', '=']);
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
    }
}
