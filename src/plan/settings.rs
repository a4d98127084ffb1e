//! Whether a desired setting differs from what the server runs with,
//! comparing in the server's own base unit (pg_settings.unit). Pure.

use crate::facts::observed::ObservedSetting;
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

#[cfg(test)]
mod tests {
    use super::*;

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
