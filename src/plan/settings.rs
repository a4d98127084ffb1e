//! Whether a desired setting differs from what the server runs with,
//! comparing in the server's own base unit (pg_settings.unit). Pure.

use crate::facts::observed::{ObservedSetting, SettingLimits};
use crate::model::{GucDuration, SettingValue, Size};

/// The size of one pg_settings unit in bytes or microseconds, e.g. "8kB" -> 8192.
fn unit_scale(unit: &str) -> Option<(bool, u64)> {
    let digits = unit
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unit.len());
    let count: u64 = if digits == 0 {
        1
    } else {
        unit[..digits].parse().ok()?
    };
    let (is_size, base) = match &unit[digits..] {
        "B" => (true, 1),
        "kB" => (true, 1 << 10),
        "MB" => (true, 1 << 20),
        "GB" => (true, 1 << 30),
        "TB" => (true, 1 << 40),
        "us" => (false, 1),
        "ms" => (false, 1_000),
        "s" => (false, 1_000_000),
        "min" => (false, 60_000_000),
        "h" => (false, 3_600_000_000),
        "d" => (false, 86_400_000_000),
        _ => return None,
    };
    Some((is_size, count * base))
}

fn bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// True when setting `desired` would change what the server runs with.
/// When the two cannot be compared, they differ: a needless reload beats a missed change.
pub fn setting_differs(desired: &SettingValue, observed: &ObservedSetting) -> bool {
    let actual = observed.setting.as_str();
    match desired {
        SettingValue::Bool(value) => bool_word(actual) != Some(*value),
        SettingValue::Integer(value) => actual.parse::<i64>().ok() != Some(*value),
        SettingValue::Float(value) => actual.parse::<f64>().ok() != Some(*value),
        SettingValue::String(text) => {
            if let Some((is_size, scale)) = observed.unit.as_deref().and_then(unit_scale) {
                let wanted = if is_size {
                    text.parse::<Size>().ok().map(|size| size.bytes())
                } else {
                    text.parse::<GucDuration>()
                        .ok()
                        .map(|d| d.as_duration().as_micros() as u64)
                };
                if let (Some(wanted), Ok(actual)) = (wanted, actual.parse::<i64>()) {
                    return actual < 0 || wanted / scale != actual as u64;
                }
            }
            if let (Some(wanted), Some(actual)) = (bool_word(text), bool_word(actual)) {
                return wanted != actual;
            }
            !text.eq_ignore_ascii_case(actual)
        }
    }
}

/// Whether the server would accept `value` for a setting pg_settings
/// describes with `limits`; Err says what it accepts. Only what is surely
/// refused is: a spelling this cannot read is left to PostgreSQL, whose
/// verdict (pg_file_settings, postgres -C) stops a reload or restart.
pub fn check_value(value: &SettingValue, limits: &SettingLimits) -> Result<(), String> {
    let range = |unit: &str| match (&limits.min_val, &limits.max_val) {
        (Some(min), Some(max)) => format!("from {min} to {max}{unit}"),
        _ => String::new(),
    };
    let unit_words = limits
        .unit
        .as_deref()
        .map(|unit| format!(" (in units of {unit})"))
        .unwrap_or_default();
    match limits.vartype.as_str() {
        "bool" => {
            let ok = match value {
                SettingValue::Bool(_) => true,
                SettingValue::Integer(n) => *n == 0 || *n == 1,
                SettingValue::String(text) => bool_word(text).is_some(),
                SettingValue::Float(_) => false,
            };
            ok.then_some(()).ok_or_else(|| "on or off".to_owned())
        }
        "integer" | "real" => {
            // PostgreSQL rounds a fractional value for an integer setting.
            let number = match value {
                SettingValue::Integer(n) => Some(*n as f64),
                SettingValue::Float(x) => Some(*x),
                SettingValue::Bool(_) => None,
                SettingValue::String(text) => {
                    let parsed = text.trim().parse::<f64>().ok().or_else(|| {
                        let (is_size, scale) = limits.unit.as_deref().and_then(unit_scale)?;
                        let base = if is_size {
                            text.parse::<Size>().ok()?.bytes() as f64
                        } else {
                            text.parse::<GucDuration>().ok()?.as_duration().as_micros() as f64
                        };
                        Some(base / scale as f64)
                    });
                    match parsed {
                        Some(number) => Some(number),
                        None => return Ok(()),
                    }
                }
            };
            let kind = if limits.vartype == "integer" {
                "an integer"
            } else {
                "a number"
            };
            let accepted = format!("{kind} {}{unit_words}", range(""))
                .trim_end()
                .to_owned();
            let Some(number) = number.filter(|n| n.is_finite()) else {
                return Err(accepted);
            };
            let bound = |text: &Option<String>| text.as_deref().and_then(|t| t.parse::<f64>().ok());
            let below = bound(&limits.min_val).is_some_and(|min| number < min);
            let above = bound(&limits.max_val).is_some_and(|max| number > max);
            if below || above {
                Err(accepted)
            } else {
                Ok(())
            }
        }
        "enum" => {
            let word = match value {
                SettingValue::String(text) => text.clone(),
                other => other.to_string(),
            };
            // An enum that has on and off takes every boolean spelling too.
            let boolean = bool_word(word.trim()).is_some()
                && limits.enumvals.iter().any(|v| v == "on")
                && limits.enumvals.iter().any(|v| v == "off");
            if boolean
                || limits
                    .enumvals
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(word.trim()))
            {
                Ok(())
            } else {
                Err(format!("one of {}", limits.enumvals.join(", ")))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vartype: &str, unit: Option<&str>, range: Option<(&str, &str)>) -> SettingLimits {
        SettingLimits {
            vartype: vartype.into(),
            unit: unit.map(str::to_owned),
            min_val: range.map(|r| r.0.to_owned()),
            max_val: range.map(|r| r.1.to_owned()),
            enumvals: Vec::new(),
        }
    }

    #[test]
    fn checks_values_against_pg_settings() {
        let text = |t: &str| SettingValue::String(t.into());
        let shared_buffers = limits("integer", Some("8kB"), Some(("16", "1073741823")));
        assert_eq!(check_value(&text("64MB"), &shared_buffers), Ok(()));
        assert_eq!(
            check_value(&SettingValue::Integer(8192), &shared_buffers),
            Ok(())
        );
        assert_eq!(
            check_value(&text("8kB"), &shared_buffers),
            Err("an integer from 16 to 1073741823 (in units of 8kB)".into())
        );
        assert!(check_value(&SettingValue::Float(1.5), &shared_buffers).is_err());
        // Rounded by PostgreSQL, or a spelling left to its verdict.
        assert_eq!(
            check_value(&SettingValue::Float(16.5), &shared_buffers),
            Ok(())
        );
        assert_eq!(check_value(&text("lots"), &shared_buffers), Ok(()));
        let mut compression = limits("enum", None, None);
        compression.enumvals = vec!["pglz".into(), "lz4".into(), "on".into(), "off".into()];
        assert_eq!(check_value(&text("true"), &compression), Ok(()));
        let max_connections = limits("integer", None, Some(("1", "262143")));
        assert!(check_value(&SettingValue::Integer(0), &max_connections).is_err());
        assert_eq!(check_value(&text("200"), &max_connections), Ok(()));
        let mut wal_level = limits("enum", None, None);
        wal_level.enumvals = vec!["minimal".into(), "replica".into(), "logical".into()];
        assert_eq!(check_value(&text("Replica"), &wal_level), Ok(()));
        assert_eq!(
            check_value(&text("archive"), &wal_level),
            Err("one of minimal, replica, logical".into())
        );
        let fsync = limits("bool", None, None);
        assert_eq!(check_value(&text("off"), &fsync), Ok(()));
        assert!(check_value(&text("maybe"), &fsync).is_err());
        let factor = limits("real", None, Some(("0", "100")));
        assert_eq!(check_value(&SettingValue::Float(0.2), &factor), Ok(()));
        assert!(check_value(&SettingValue::Float(f64::NAN), &factor).is_err());
        assert_eq!(
            check_value(&text("anything"), &limits("string", None, None)),
            Ok(())
        );
    }

    fn observed(setting: &str, unit: Option<&str>) -> ObservedSetting {
        ObservedSetting {
            setting: setting.into(),
            unit: unit.map(str::to_owned),
            context: "sighup".into(),
            source_file: None,
            pending_restart: false,
        }
    }

    #[test]
    fn compares_in_base_units() {
        let size = |text: &str| SettingValue::String(text.into());
        assert!(!setting_differs(
            &size("20GB"),
            &observed("20480", Some("MB"))
        ));
        assert!(setting_differs(&size("20GB"), &observed("-1", Some("MB"))));
        assert!(!setting_differs(
            &size("128MB"),
            &observed("16384", Some("8kB"))
        ));
        assert!(!setting_differs(&size("5min"), &observed("300", Some("s"))));
        assert!(!setting_differs(
            &SettingValue::Bool(true),
            &observed("on", None)
        ));
        assert!(setting_differs(
            &SettingValue::Bool(true),
            &observed("off", None)
        ));
        assert!(!setting_differs(
            &SettingValue::Integer(10),
            &observed("10", None)
        ));
        assert!(!setting_differs(
            &size("replica"),
            &observed("replica", None)
        ));
        assert!(setting_differs(
            &size("localhost,10.0.0.1"),
            &observed("localhost", None)
        ));
        assert!(!setting_differs(&size("on"), &observed("on", None)));
    }
}
