//! Fuzz target: any text as a postgresql.conf-style file, through
//! mirrorset's config-line parser and include-line editing. Every line
//! PostgreSQL reads as a setting, mirrorset reads as the same name and
//! value; adding the include line is idempotent and leaves it the last
//! setting. In: bytes. Out: a panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::desired::{include_line_present, with_include_line};
use mirrorset::facts::parse::{conf_lines, conf_settings};
use mirrorset_fuzz::postgres;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = conf_lines(text);
    let count = text.lines().count();
    let mut last = 0;
    for (line, name, _) in &lines {
        assert!(
            *line > last && *line <= count,
            "line {line} after {last} of {count}"
        );
        last = *line;
        assert_eq!(*name, name.to_ascii_lowercase());
    }
    let settings = conf_settings(text);
    let mut folded = std::collections::BTreeMap::new();
    for (_, name, value) in lines.iter().cloned() {
        folded.insert(name, value);
    }
    assert_eq!(
        settings, folded,
        "conf_settings is not the last value of each name"
    );

    for (index, line) in text.split('\n').enumerate() {
        if line.contains('\0') {
            continue;
        }
        let Some(Ok((name, value))) = postgres::guc_line(line.as_bytes()) else {
            continue;
        };
        let (Ok(name), Ok(value)) = (String::from_utf8(name), String::from_utf8(value)) else {
            continue;
        };
        let own = lines.iter().find(|(number, _, _)| *number == index + 1);
        assert_eq!(
            own.map(|(_, name, value)| (name.as_str(), value.as_str())),
            Some((name.to_ascii_lowercase().as_str(), value.as_str())),
            "line {} {line:?}: PostgreSQL and mirrorset read it differently",
            index + 1
        );
    }

    let with = with_include_line(text);
    assert!(include_line_present(&with), "{with:?}");
    assert_eq!(
        with_include_line(&with),
        with,
        "adding the include line twice"
    );
    if !include_line_present(text) {
        assert!(with.starts_with(text));
        let own = conf_lines(&with);
        let (_, name, value) = own.last().expect("the include line");
        assert_eq!(
            (name.as_str(), value.as_str()),
            ("include_if_exists", "mirrorset.conf")
        );
        let last = with.split_terminator('\n').last().unwrap_or_default();
        assert_eq!(
            postgres::guc_line(last.as_bytes()),
            Some(Ok((
                b"include_if_exists".to_vec(),
                b"mirrorset.conf".to_vec()
            )))
        );
    }
});
