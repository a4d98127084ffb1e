//! Every file under tests/fixtures/invalid/ is refused with the diagnostic
//! its first line announces (`# expect: CODE at LINE:COL`), exit 1, and the
//! whole rendered report matches its snapshot.

use std::path::Path;

use crate::test::Test;

/// The code and location a fixture announces in its first line.
fn expectation(text: &str) -> (String, String) {
    let first = text.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!("fixture must start with `# expect: CODE at LINE:COL`, got {first:?}")
    });
    let (code, location) = rest.split_once(" at ").expect("`CODE at LINE:COL`");
    (code.to_owned(), location.to_owned())
}

#[test]
fn each_invalid_file_gets_its_diagnostic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    insta::glob!("../fixtures/invalid", "*.toml", |path| {
        count += 1;
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let (code, location) = expectation(&std::fs::read_to_string(path).unwrap());
        let output = Test::new().args(["validate", &relative]).status(1).run();
        assert!(
            output.stdout.is_empty(),
            "nothing on stdout for an invalid file"
        );
        // The announced diagnostic's header line names the file, line and column.
        let header = format!("╭─[{relative}:{location}]");
        let block = output
            .stderr
            .split("\n\n")
            .skip_while(|block| block.trim() != code)
            .nth(1)
            .unwrap_or_else(|| panic!("{relative}: no {code} in\n{}", output.stderr));
        assert!(
            block.contains(&header),
            "{relative}: {code} is not at {location}:\n{block}"
        );
        assert!(!output.stderr.contains("panicked"));
        insta::assert_snapshot!(output.stderr);
    });
    assert!(count >= 25, "only {count} invalid fixtures");
}

#[test]
fn invalid_file_among_valid_ones_fails_the_run_and_reports_the_rest() {
    let output = Test::new()
        .args([
            "validate",
            "examples/minimal/cluster.toml",
            "tests/fixtures/invalid/duplicate-host.toml",
        ])
        .status(1)
        .stdout("examples/minimal/cluster.toml: cluster minimal: primary db1, 1 mirror\n")
        .run();
    assert!(
        output
            .stderr
            .ends_with("error: 1 of 2 cluster files are invalid (1 problem)\n")
    );
}

#[test]
fn every_problem_of_a_file_is_reported_not_just_the_first() {
    let output = Test::new()
        .args(["validate", "tests/fixtures/invalid/many-problems.toml"])
        .status(1)
        .run();
    for code in [
        "config::missing_key",
        "config::unknown_key",
        "config::literal_passphrase",
        "config::invalid_transport",
        "config::invalid_size",
        "config::invalid_port",
        "config::duplicate_host",
        "config::invalid_slot_name",
        "config::relative_path",
    ] {
        assert!(
            output.stderr.contains(&format!("\n{code}\n")) || output.stderr.starts_with(code),
            "{code} missing"
        );
    }
    assert!(
        output.stderr.ends_with("(9 problems)\n"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_literal_passphrase_is_never_echoed() {
    let output = Test::new()
        .args(["validate", "tests/fixtures/invalid/literal-passphrase.toml"])
        .status(1)
        .run();
    // Even the quoted source line is masked, byte for byte.
    assert!(
        !output.stderr.contains("correct horse"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains(r#"passphrase = "****************************""#),
        "{}",
        output.stderr
    );
}
