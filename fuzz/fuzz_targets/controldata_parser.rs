//! Fuzz target: any text as what a node prints: pg_controldata output,
//! `key=value` probe output, `postgres --version`, server log lines, WAL
//! positions and segment names. No parser panics, read values are trimmed
//! single lines, and a parsed position or segment prints back the same.
//! In: bytes. Out: a panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::facts::parse::{
    controldata, key_values, major_version, postgres_version, server_message, server_messages,
};
use mirrorset::model::Lsn;

fn trimmed_line(text: &str) -> bool {
    text.trim() == text && !text.contains('\n')
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (key, value) in controldata(text) {
        assert!(
            trimmed_line(&key) && trimmed_line(&value) && !key.contains(':'),
            "{key:?}: {value:?}"
        );
        if let Some(lsn) = Lsn::parse(&value) {
            assert_eq!(Lsn::parse(&lsn.to_string()), Some(lsn), "{value:?}");
        }
    }
    for (key, value) in key_values(text) {
        assert!(
            trimmed_line(&key) && trimmed_line(&value) && !key.contains('='),
            "{key:?}={value:?}"
        );
    }
    if let Some(version) = postgres_version(text) {
        assert!(
            version.starts_with(|c: char| c.is_ascii_digit())
                && !version.contains(char::is_whitespace)
        );
        let _ = major_version(&version);
    }
    assert!(!server_messages(text).contains('\n'));
    for line in text.lines() {
        let _ = server_message(line);
        let _ = major_version(line);
        if let Some(lsn) = Lsn::parse(line) {
            assert_eq!(Lsn::parse(&lsn.to_string()), Some(lsn), "{line:?}");
        }
        for bytes in [0, 1, 3, 1 << 20, 16 << 20, 1 << 30, 1 << 32, u64::MAX] {
            let Some(lsn) = Lsn::of_segment(line, bytes) else {
                continue;
            };
            // A real segment name (its number below the segments per 4 GiB)
            // names the segment that starts at the position found.
            let per_log = (1u64 << 32) / bytes;
            if per_log == 0 {
                continue;
            }
            let (log, seg) = (lsn.0 / bytes / per_log, lsn.0 / bytes % per_log);
            let valid = line.len() == 24
                && line.chars().all(|c| c.is_ascii_hexdigit())
                && u64::from_str_radix(&line[16..24], 16).is_ok_and(|s| s < per_log);
            if valid {
                assert_eq!(
                    format!("{log:08X}{seg:08X}"),
                    line[8..24].to_ascii_uppercase(),
                    "{line:?} / {bytes}"
                );
            }
        }
    }
});
