//! Fuzz target: settings (fields cut at 0xFF: a name, then a value typed
//! by its first character: s string, i integer, f float, b bool) in a
//! cluster file, the even ones cluster-wide and the odd ones on the mirror.
//! mirrorset's validator refuses them, or mirrorset.conf renders them so
//! that PostgreSQL's lexer and mirrorset's own parser read back the same
//! values. In: bytes. Out: a panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::model::{Secret, SettingValue};
use mirrorset_fuzz::cluster::{self, Spec};
use mirrorset_fuzz::fields;

fn value(field: &str) -> Option<SettingValue> {
    let mut chars = field.chars();
    let kind = chars.next()?;
    let rest = chars.as_str();
    Some(match kind {
        's' => SettingValue::String(rest.to_owned()),
        'i' => SettingValue::Integer(rest.parse().ok()?),
        'f' => SettingValue::Float(rest.parse().ok()?),
        'b' => SettingValue::Bool(matches!(rest, "1" | "true" | "on")),
        _ => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let fields = fields(data);
    let mut spec = Spec::default();
    for (index, pair) in fields.chunks(2).enumerate() {
        let [Some(name), Some(field)] = pair else {
            continue;
        };
        let Some(value) = value(field) else {
            continue;
        };
        let setting = (name.to_string(), value);
        if index % 2 == 0 {
            spec.settings.push(setting);
        } else {
            spec.nodes[1].settings.push(setting);
        }
    }
    if let Some(parsed) = spec.cluster() {
        cluster::check(&parsed, &Secret::new("fuzz passphrase".to_owned()));
    }
});
