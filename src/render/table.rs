//! Left-aligned text columns, two spaces apart, no trailing spaces. Pure.

pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate().take(columns) {
            line.push_str(cell);
            if index + 1 < columns {
                line.push_str(&" ".repeat(widths[index] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["db1".into(), "primary".into()],
            vec!["db22".into(), "".into()],
        ];
        assert_eq!(
            super::table(&["NODE", "ROLE"], &rows),
            "NODE  ROLE\ndb1   primary\ndb22\n"
        );
    }
}
