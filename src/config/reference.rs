//! The cluster-file reference in Markdown (docs/cluster-file.md), rendered
//! from the generated JSON schema and the rule list, so the documentation
//! cannot drift from what the reader accepts. Pure.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::{Map, Value};

use super::{Rule, cluster_schema_json};

/// Where the committed reference lives, relative to the repository root.
pub const REFERENCE_PATH: &str = "docs/cluster-file.md";

pub fn reference_markdown() -> String {
    let schema: Value = serde_json::from_str(&cluster_schema_json()).expect("the schema is JSON");
    let mut out = String::from(
        "# The cluster file\n\n\
         <!-- Generated from the Rust types by `MIRRORSET_UPDATE_SCHEMA=1 cargo test schema`; do not edit. -->\n\n\
         A cluster file (`cluster.toml`) describes one PostgreSQL cluster: which node is primary,\n\
         the read-only mirrors, and how they replicate. It is meant for version control, so it\n\
         holds no secret: the replication passphrase is referenced, never written.\n\
         Local paths are relative to the file's folder; paths on nodes are absolute.\n\
         Editors check and complete keys with the JSON schema named in the file's first line:\n\
         `#:schema ../schemas/cluster.schema.json`.\n",
    );
    let mut seen = BTreeSet::new();
    section(&mut out, &schema, &schema, "", &mut seen);
    out.push_str("\n## Rules\n\nEvery rule a file breaks is reported at once, each with its code, the exact place in the file and a hint; no node is contacted.\n\n| code | rule |\n|---|---|\n");
    for rule in Rule::ALL {
        writeln!(out, "| `{}` | {} |", rule.code(), rule.description()).unwrap();
    }
    out
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> (&'a Value, Option<&'a str>) {
    let reference = schema
        .get("$ref")
        .or_else(|| {
            schema
                .get("allOf")
                .and_then(|all| all.get(0))
                .and_then(|first| first.get("$ref"))
        })
        .and_then(Value::as_str);
    match reference {
        Some(reference) => {
            let name = reference.trim_start_matches("#/definitions/");
            (&root["definitions"][name], Some(name))
        }
        None => (schema, None),
    }
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn type_name(schema: &Value, root: &Value) -> String {
    let (resolved, _) = resolve(schema, root);
    if let Some(variants) = resolved.get("anyOf").and_then(Value::as_array) {
        let mut names: Vec<String> = variants.iter().map(|v| type_name(v, root)).collect();
        names.dedup();
        return names.join(" or ");
    }
    match resolved.get("type").and_then(Value::as_str) {
        Some("array") => match resolved.get("items") {
            Some(items) if properties(resolve(items, root).0).is_some() => {
                "array of tables".to_owned()
            }
            _ => "array of strings".to_owned(),
        },
        Some("object") => match resolved
            .get("additionalProperties")
            .filter(|v| v.is_object())
        {
            Some(each) if properties(resolve(each, root).0).is_some() => {
                "table of tables".to_owned()
            }
            Some(_) => "table of settings".to_owned(),
            None => "table".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => "string, integer, float or boolean".to_owned(),
    }
}

fn section(
    out: &mut String,
    schema: &Value,
    root: &Value,
    path: &str,
    seen: &mut BTreeSet<String>,
) {
    let (schema, definition) = resolve(schema, root);
    if let Some(name) = definition {
        if !seen.insert(name.to_owned()) {
            return;
        }
    }
    // `[[files]]`: an array of tables; its keys' tables are `[files.KEY]`.
    if let Some(items) = schema
        .get("items")
        .filter(|_| schema.get("type").and_then(Value::as_str) == Some("array"))
    {
        if properties(resolve(items, root).0).is_some() {
            return section(out, items, root, &format!("[{path}]"), seen);
        }
    }
    // `[nodes.NAME]`: a table of user-named tables.
    if let Some(each) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        if properties(resolve(each, root).0).is_some() {
            return section(out, each, root, &format!("{path}.NAME"), seen);
        }
    }
    let Some(properties) = properties(schema) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if path.is_empty() {
        out.push_str("\n## Top level\n\n");
    } else {
        writeln!(out, "\n## `[{path}]`\n").unwrap();
    }
    if let Some(description) = schema
        .get("description")
        .and_then(Value::as_str)
        .filter(|_| !path.is_empty())
    {
        writeln!(out, "{description}\n").unwrap();
    }
    out.push_str("| key | type | required | meaning |\n|---|---|---|---|\n");
    let mut nested = Vec::new();
    for (key, property) in properties {
        let description = property
            .get("description")
            .or_else(|| resolve(property, root).0.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .replace('\n', " ")
            .replace('|', "\\|");
        writeln!(
            out,
            "| `{key}` | {} | {} | {description} |",
            type_name(property, root),
            if required.contains(&key.as_str()) {
                "yes"
            } else {
                "no"
            },
        )
        .unwrap();
        nested.push((key, property));
    }
    for (key, property) in nested {
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!(
                "{}.{key}",
                path.trim_start_matches('[').trim_end_matches(']')
            )
        };
        let (resolved, _) = resolve(property, root);
        match resolved.get("anyOf").and_then(Value::as_array) {
            Some(variants) => {
                for variant in variants {
                    section(out, variant, root, &child, seen);
                }
            }
            None => section(out, property, root, &child, seen),
        }
    }
}
