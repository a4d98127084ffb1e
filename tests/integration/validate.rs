//! `mirrorset validate` as a user calls it: files, folders, globs, exit codes.

use crate::test::Test;

#[test]
fn a_folder_stands_for_its_cluster_toml() {
    Test::new()
        .args(["validate", "examples/minimal"])
        .stdout("examples/minimal/cluster.toml: cluster minimal: primary db1, 1 mirror\n")
        .stderr("")
        .run();
}

#[test]
fn a_glob_that_matches_nothing_is_an_error() {
    let output = Test::new()
        .args(["validate", "nowhere/*/cluster.toml"])
        .status(1)
        .run();
    assert!(
        output
            .stderr
            .contains("no file matches \"nowhere/*/cluster.toml\""),
        "{}",
        output.stderr
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = Test::new()
        .args(["validate", "missing.toml"])
        .status(1)
        .run();
    assert!(
        output.stderr.contains("config::unreadable"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("cannot read missing.toml"),
        "{}",
        output.stderr
    );
}

#[test]
fn validate_needs_a_file() {
    let output = Test::new().args(["validate"]).status(2).run();
    assert!(output.stderr.contains("required"), "{}", output.stderr);
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/cluster.schema.json"
    ))
    .unwrap();
    Test::new().args(["schema"]).stdout(&committed).run();
}
