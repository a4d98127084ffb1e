//! A memory or disk size written with PostgreSQL's units ("20GB", "512 MB").
//! Parsing and canonical rendering; pure.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// PostgreSQL's memory units. They are case-sensitive: `kB` is a unit, `kb` is not.
const UNITS: [(&str, u64); 5] = [
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("kB", 1 << 10),
    ("B", 1),
];

/// A size in bytes, read from and written as PostgreSQL writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size {
    bytes: u64,
}

impl Size {
    pub fn from_bytes(bytes: u64) -> Self {
        Self { bytes }
    }

    pub fn bytes(self) -> u64 {
        self.bytes
    }
}

/// Splits "20 GB" into ("20", "GB"); the number part is ASCII digits only.
pub(crate) fn split_number_and_unit(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return None;
    }
    Some((&text[..digits], text[digits..].trim_start()))
}

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "a whole number followed by one of PostgreSQL's units B, kB, MB, GB, TB (e.g. \"20GB\")";
        let Some((number, unit)) = split_number_and_unit(text) else {
            return Err(format!("{text:?} is not a size: expected {expected}"));
        };
        if unit.is_empty() {
            return Err(format!(
                "{text:?} has no unit: write it with one of B, kB, MB, GB, TB (e.g. \"{number}GB\")"
            ));
        }
        let Some((_, multiplier)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            if let Some((name, _)) = UNITS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            {
                return Err(format!(
                    "{unit:?} is not a unit: PostgreSQL's units are case-sensitive, write \"{number}{name}\""
                ));
            }
            return Err(format!("{unit:?} is not a size unit: expected {expected}"));
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*multiplier))
            .map(Size::from_bytes)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for Size {
    /// The largest unit that divides the size exactly, as PostgreSQL shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, multiplier) = UNITS
            .iter()
            .find(|(_, multiplier)| self.bytes % multiplier == 0 && self.bytes > 0)
            .unwrap_or(&("B", 1));
        write!(f, "{}{name}", self.bytes / multiplier)
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postgres_units() {
        assert_eq!("20GB".parse::<Size>().unwrap().bytes(), 20 << 30);
        assert_eq!("512 MB".parse::<Size>().unwrap().bytes(), 512 << 20);
        assert_eq!("64kB".parse::<Size>().unwrap().bytes(), 64 << 10);
        assert_eq!("1TB".parse::<Size>().unwrap().bytes(), 1 << 40);
        assert_eq!("100B".parse::<Size>().unwrap().bytes(), 100);
    }

    #[test]
    fn refuses_what_postgres_refuses() {
        assert!(
            "20gb"
                .parse::<Size>()
                .unwrap_err()
                .contains("case-sensitive, write \"20GB\"")
        );
        assert!("20".parse::<Size>().unwrap_err().contains("has no unit"));
        assert!("GB".parse::<Size>().unwrap_err().contains("is not a size"));
        assert!(
            "20 parsecs"
                .parse::<Size>()
                .unwrap_err()
                .contains("is not a size unit")
        );
        assert!("-1GB".parse::<Size>().is_err());
        assert!(
            "99999999999999TB"
                .parse::<Size>()
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn renders_with_the_largest_exact_unit() {
        assert_eq!("20480MB".parse::<Size>().unwrap().to_string(), "20GB");
        assert_eq!("1536MB".parse::<Size>().unwrap().to_string(), "1536MB");
        assert_eq!(Size::from_bytes(0).to_string(), "0B");
    }
}
