//! A duration written with PostgreSQL's time units ("30s", "5min", "250 ms").
//! Parsing and canonical rendering; pure.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use super::size::split_number_and_unit;

/// PostgreSQL's time units, largest first; case-sensitive like the server's.
const UNITS: [(&str, u64); 6] = [
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

/// A duration in microseconds, read from and written as PostgreSQL writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GucDuration {
    micros: u64,
}

impl GucDuration {
    pub fn as_duration(self) -> Duration {
        Duration::from_micros(self.micros)
    }

    pub fn from_duration(duration: Duration) -> Self {
        Self {
            micros: duration.as_micros().min(u128::from(u64::MAX)) as u64,
        }
    }
}

impl FromStr for GucDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "a whole number followed by one of PostgreSQL's units us, ms, s, min, h, d (e.g. \"30s\")";
        let Some((number, unit)) = split_number_and_unit(text) else {
            return Err(format!("{text:?} is not a duration: expected {expected}"));
        };
        if unit.is_empty() {
            return Err(format!(
                "{text:?} has no unit: write it with one of us, ms, s, min, h, d (e.g. \"{number}s\")"
            ));
        }
        let Some((_, multiplier)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("{unit:?} is not a time unit: expected {expected}"));
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*multiplier))
            .map(|micros| GucDuration { micros })
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for GucDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, multiplier) = UNITS
            .iter()
            .find(|(_, multiplier)| self.micros % multiplier == 0 && self.micros > 0)
            .unwrap_or(&("s", 1_000_000));
        write!(f, "{}{name}", self.micros / multiplier)
    }
}

impl Serialize for GucDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postgres_time_units() {
        let parse = |text: &str| text.parse::<GucDuration>().unwrap().as_duration();
        assert_eq!(parse("30s"), Duration::from_secs(30));
        assert_eq!(parse("5min"), Duration::from_secs(300));
        assert_eq!(parse("250 ms"), Duration::from_millis(250));
        assert_eq!(parse("2h"), Duration::from_secs(7200));
        assert_eq!(parse("1d"), Duration::from_secs(86_400));
        assert_eq!(parse("7us"), Duration::from_micros(7));
    }

    #[test]
    fn refuses_other_units() {
        assert!(
            "5m".parse::<GucDuration>()
                .unwrap_err()
                .contains("not a time unit")
        );
        assert!("5 mins".parse::<GucDuration>().is_err());
        assert!(
            "30".parse::<GucDuration>()
                .unwrap_err()
                .contains("has no unit")
        );
    }

    #[test]
    fn renders_with_the_largest_exact_unit() {
        assert_eq!("120s".parse::<GucDuration>().unwrap().to_string(), "2min");
        assert_eq!(
            "1500ms".parse::<GucDuration>().unwrap().to_string(),
            "1500ms"
        );
    }
}
