//! Property tests of the renderers against PostgreSQL's own parsers: each
//! generated value is either refused by mirrorset, or written as
//! mirrorset writes it and read back by the real parser as the same value.
//! Deterministic (a fixed seed), so a failure reproduces.

use crate::hosts::TestHosts;

/// A small deterministic generator (xorshift64*): no new dependency.
struct Values(u64);

impl Values {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A string from the characters that break naive quoting.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "'",
            "''",
            "\\",
            "\\'",
            "\"",
            "#",
            "=",
            " ",
            "\t",
            "\n",
            "\r",
            "\0",
            "$(touch x)",
            "`id`",
            "%",
            "a",
            "Z",
            "0",
            "é",
            "日本",
            "🐘",
            "include 'x'",
            ";",
            ",",
            "--",
            "\\n",
        ];
        let length = (self.next() % 8) as usize;
        (0..length)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

/// 400 strings through `SettingValue`'s rendering into a config file that
/// PostgreSQL reads (pg_file_settings): every carried one comes back equal.
#[test]
fn config_values_round_trip_through_postgresql_or_are_refused() {
    let hosts = TestHosts::up(60, 1);
    let mut values = Values(0x6d69_7272_6f72_7365);
    let mut written = Vec::new();
    let mut refused = 0;
    let mut conf = String::new();
    for index in 0..400 {
        let text = values.text();
        if !mirrorset::model::config_can_carry(&text) {
            refused += 1;
            continue;
        }
        let rendered = mirrorset::model::SettingValue::String(text.clone()).to_string();
        conf.push_str(&format!("mirrorset_fuzz.v{index} = {rendered}\n"));
        written.push((format!("mirrorset_fuzz.v{index}"), text));
    }
    let path = hosts.dir.join("node1/etc/fuzz.conf");
    std::fs::write(&path, &conf).unwrap();
    let postgresql_conf = hosts.dir.join("node1/etc/postgresql.conf");
    let mut main = std::fs::read_to_string(&postgresql_conf).unwrap();
    main.push_str("include 'fuzz.conf'\n");
    std::fs::write(&postgresql_conf, main).unwrap();

    let errors = hosts.psql(
        1,
        "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL",
    );
    assert_eq!(errors, "0", "PostgreSQL rejects a rendered value");
    // Read back as hex, so no byte is lost to psql's output format.
    let read = hosts.psql(
        1,
        "SELECT name || ' ' || encode(convert_to(setting, 'UTF8'), 'hex') FROM pg_file_settings \
         WHERE name LIKE 'mirrorset_fuzz.%'",
    );
    let back: std::collections::BTreeMap<String, String> = read
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, hex)| {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (name.to_owned(), String::from_utf8(bytes).unwrap())
        })
        .collect();
    let mismatches: Vec<_> = written
        .iter()
        .filter(|(name, text)| back.get(name) != Some(text))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} values came back different: {:?}",
        mismatches.len(),
        written.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    assert!(
        written.len() > 100 && refused > 10,
        "{} written, {refused} refused",
        written.len()
    );
    eprintln!(
        "{} config values round-tripped, {refused} refused",
        written.len()
    );
}

/// 120 values through `conninfo` and libpq's own parser (psql), read back
/// from the server as application_name: printable ASCII, which the server
/// keeps as sent, with the quotes, backslashes, `=` and spaces that need
/// quoting.
#[test]
fn conninfo_values_round_trip_through_libpq() {
    let hosts = TestHosts::up(61, 1);
    let mut values = Values(0x636f_6e6e_696e_666f);
    let socket = hosts.dir.join("node1/run");
    let socket = socket.to_str().unwrap();
    for _ in 0..120 {
        let value: String = values
            .text()
            .chars()
            .filter(|c| (' '..='~').contains(c))
            .take(63)
            .collect();
        let conninfo = mirrorset::desired::conninfo(&[
            ("host", socket),
            ("port", "5432"),
            ("dbname", "postgres"),
            ("application_name", &value),
        ]);
        let output = std::process::Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "/usr/lib/postgresql/15/bin/psql",
                "-XAtq",
            ])
            .args(["-d", &conninfo, "-c", "SHOW application_name"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{conninfo}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let back = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            back.strip_suffix('\n').unwrap_or(&back),
            value,
            "{conninfo}"
        );
    }
}
