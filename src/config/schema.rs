//! The JSON schema of the cluster file, generated from the `ClusterFile`
//! types so editors (taplo, Even Better TOML) complete and check keys. Pure.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;

use super::ClusterFile;

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schemas/cluster.schema.json";

/// The schema as pretty JSON with a trailing newline, exactly as committed.
pub fn cluster_schema_json() -> String {
    // Draft 7 is what TOML editors read.
    let generator = SchemaSettings::draft07()
        .with(|settings| {
            settings
                .transforms
                .push(Box::new(RecursiveTransform(without_null)))
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<ClusterFile>();
    let mut json = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    json.push('\n');
    json
}

/// TOML has no null: an optional key is one that is not required, so the
/// `null` that schemars adds for `Option` is removed.
fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(variants)) = object.get_mut("anyOf") {
        variants.retain(|variant| variant.get("type") != Some(&Value::from("null")));
        if variants.len() == 1 {
            let Some(Value::Object(only)) = variants.pop() else {
                return;
            };
            object.remove("anyOf");
            for (key, value) in only {
                object.entry(key).or_insert(value);
            }
        }
    }
}
