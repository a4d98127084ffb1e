//! The committed JSON schema is the one the types generate, and it covers
//! exactly the keys the reader accepts.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

fn committed_file_is_up_to_date(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        if std::env::var_os("MIRRORSET_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, generated).unwrap();
        } else {
            panic!(
                "{} is out of date: run `MIRRORSET_UPDATE_SCHEMA=1 cargo test schema` and commit it",
                path.display()
            );
        }
    }
}

#[test]
fn committed_schema_is_up_to_date() {
    committed_file_is_up_to_date(
        mirrorset::config::SCHEMA_PATH,
        &mirrorset::config::cluster_schema_json(),
    );
}

#[test]
fn committed_plan_schema_is_up_to_date() {
    committed_file_is_up_to_date(
        mirrorset::plan::PLAN_SCHEMA_PATH,
        &mirrorset::plan::plan_schema_json(),
    );
}

#[test]
fn committed_reference_is_up_to_date() {
    committed_file_is_up_to_date(
        mirrorset::config::REFERENCE_PATH,
        &mirrorset::config::reference_markdown(),
    );
}

/// Every dotted key path the schema allows, with `*` for user-chosen names.
fn schema_paths(schema: &Value, root: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        return schema_paths(&root["definitions"][name], root, prefix, out);
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        for variant in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            schema_paths(variant, root, prefix, out);
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            out.insert(path.clone());
            schema_paths(property, root, &path, out);
        }
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        out.insert(format!("{prefix}.*"));
        schema_paths(additional, root, &format!("{prefix}.*"), out);
    }
}

/// Every dotted key path of a TOML file, with node names and setting names as `*`.
fn file_paths(item: &toml_edit::Item, prefix: &str, out: &mut BTreeSet<String>) {
    let Some(table) = item.as_table_like() else {
        return;
    };
    for (key, value) in table.iter() {
        let key = if prefix == "nodes" || prefix.ends_with("settings") {
            "*"
        } else {
            key
        };
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        out.insert(path.clone());
        if !prefix.ends_with("settings") {
            file_paths(value, &path, out);
        }
    }
}

#[test]
fn valid_fixtures_cover_the_schema_and_validate() {
    let mut written = BTreeSet::new();
    let pattern = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/valid/*.toml");
    for path in glob::glob(pattern).unwrap().map(Result::unwrap) {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(invalid) = mirrorset::config::parse(&path, text.clone()) {
            panic!("{} is invalid: {:?}", path.display(), invalid.problems());
        }
        let document: toml_edit::DocumentMut = text.parse().unwrap();
        file_paths(document.as_item(), "", &mut written);
    }

    let schema: Value = serde_json::from_str(&mirrorset::config::cluster_schema_json()).unwrap();
    let mut allowed = BTreeSet::new();
    schema_paths(&schema, &schema, "", &mut allowed);

    let missing: Vec<_> = allowed.difference(&written).collect();
    assert!(missing.is_empty(), "no valid fixture sets {missing:?}");
    let unknown: Vec<_> = written.difference(&allowed).collect();
    assert!(unknown.is_empty(), "the schema does not allow {unknown:?}");
}
