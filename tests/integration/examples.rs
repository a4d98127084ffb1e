//! Every example validates, names the schema, and never panics the parser
//! however it is cut short.

use std::path::Path;

use crate::test::Test;

fn examples() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = glob::glob(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/*/cluster.toml"
    ))
    .unwrap()
    .map(Result::unwrap)
    .collect();
    paths.sort();
    assert!(paths.len() >= 3, "examples: {paths:?}");
    paths
}

#[test]
fn every_example_validates() {
    Test::new()
        .args(["validate", "examples/*/cluster.toml"])
        .stdout(
            "examples/debian/cluster.toml: cluster app: primary db1, 1 mirror\n\
             examples/mfa-pair/cluster.toml: cluster mfa: primary mfa1, 1 mirror\n\
             examples/minimal/cluster.toml: cluster minimal: primary db1, 1 mirror\n\
             examples/pam-readonly/cluster.toml: cluster pam-prod: primary hq-db1, 2 mirrors, 1 absent\n\
             examples/rhel/cluster.toml: cluster rhel: primary pg1, 1 mirror\n\
             examples/tls/cluster.toml: cluster payments: primary pay-db1, 2 mirrors\n",
        )
        .stderr("")
        .run();
}

#[test]
fn every_example_names_the_schema() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        let schema = first
            .strip_prefix("#:schema ")
            .unwrap_or_else(|| panic!("{} must start with #:schema", path.display()));
        let schema = path.parent().unwrap().join(schema);
        assert!(
            schema.is_file(),
            "{} names {}",
            path.display(),
            schema.display()
        );
        assert_eq!(
            schema.canonicalize().unwrap(),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/cluster.schema.json")
        );
    }
}

#[test]
fn truncated_files_give_diagnostics_never_panics() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        for cut in (0..text.len()).filter(|cut| text.is_char_boundary(*cut)) {
            let result = mirrorset::config::parse(&path, text[..cut].to_owned());
            if let Err(invalid) = result {
                assert!(!invalid.problems().is_empty());
            }
        }
    }
}
