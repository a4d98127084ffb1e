//! Edits of the cluster file that keep every other byte as it is (comments,
//! spacing, quoting): the text in, the edited text out. Pure.

/// `text` with `[cluster] primary` set to `node`, quoted as the old value was.
pub fn with_primary(text: &str, node: &str) -> Result<String, String> {
    let document = toml_edit::Document::parse(text).map_err(|e| e.message().to_owned())?;
    let value = document
        .get("cluster")
        .and_then(|cluster| cluster.get("primary"))
        .ok_or("the file has no [cluster] primary")?;
    let span = value
        .span()
        .ok_or("the position of [cluster] primary is unknown")?;
    let old = &text[span.clone()];
    let quoted = if old.starts_with('\'') {
        format!("'{node}'")
    } else {
        format!("\"{node}\"")
    };
    Ok(format!(
        "{}{quoted}{}",
        &text[..span.start],
        &text[span.end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::with_primary;

    #[test]
    fn changes_only_the_value() {
        let text = "# cluster\n[cluster]\nname    = \"c\"   # the name\nprimary = \"db1\"  # moved by promote\n\n[nodes.db1]\nhost = \"10.0.0.1\"\n";
        assert_eq!(
            with_primary(text, "db2").unwrap(),
            text.replace("\"db1\"  #", "\"db2\"  #")
        );
        let literal = "[cluster]\nprimary='db1'\n";
        assert_eq!(
            with_primary(literal, "db3").unwrap(),
            "[cluster]\nprimary='db3'\n"
        );
        assert!(with_primary("[cluster]\nname = \"c\"\n", "db2").is_err());
    }
}
