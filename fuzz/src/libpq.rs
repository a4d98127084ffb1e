//! libpq's readers of what mirrorset writes for it, as PostgreSQL 15's
//! fe-connect.c has them: the `key=value` connection string
//! (conninfo_parse) and one passfile line (passwordFromFile with
//! pwdfMatchesString). In: text. Out: pairs, or the password. Pure.

/// C's isspace in the C locale, which libpq uses between and in values.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// conninfo_parse: the pairs in order, or why libpq refuses the string.
/// libpq gets a C string, so a NUL ends it.
pub fn conninfo(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bytes = text.as_bytes();
    let bytes = &bytes[..bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())];
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut pairs = Vec::new();
    let mut i = 0;
    while at(i) != 0 {
        if is_space(at(i)) {
            i += 1;
            continue;
        }
        let name_start = i;
        let mut name_end;
        loop {
            name_end = i;
            if at(i) == 0 || at(i) == b'=' {
                break;
            }
            if is_space(at(i)) {
                i += 1;
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                break;
            }
            i += 1;
        }
        let name = String::from_utf8_lossy(&bytes[name_start..name_end]).into_owned();
        if at(i) != b'=' {
            return Err(format!("missing \"=\" after \"{name}\""));
        }
        i += 1;
        while at(i) != 0 && is_space(at(i)) {
            i += 1;
        }
        let mut value = Vec::new();
        if at(i) != b'\'' {
            while at(i) != 0 {
                if is_space(at(i)) {
                    i += 1;
                    break;
                }
                if at(i) == b'\\' {
                    i += 1;
                    if at(i) != 0 {
                        value.push(at(i));
                        i += 1;
                    }
                } else {
                    value.push(at(i));
                    i += 1;
                }
            }
        } else {
            i += 1;
            loop {
                match at(i) {
                    0 => return Err("unterminated quoted string".into()),
                    b'\\' => {
                        i += 1;
                        if at(i) != 0 {
                            value.push(at(i));
                            i += 1;
                        }
                    }
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    byte => {
                        value.push(byte);
                        i += 1;
                    }
                }
            }
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// pwdfMatchesString: the rest of the line after a field matching
/// `token` (or `*`), or None.
fn field_matches<'a>(line: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if line.starts_with(b"*:") {
        return Some(&line[2..]);
    }
    let (mut t, mut k) = (0, 0);
    let mut backslash = false;
    while t < line.len() {
        if line[t] == b'\\' && !backslash {
            t += 1;
            backslash = true;
        }
        let c = line.get(t).copied().unwrap_or(0);
        if c == b':' && k == token.len() && !backslash {
            return Some(&line[t + 1..]);
        }
        backslash = false;
        if k == token.len() {
            return None;
        }
        if c == token[k] {
            t += 1;
            k += 1;
        } else {
            return None;
        }
    }
    None
}

/// passwordFromFile: the password libpq takes from a passfile for this
/// connection, or None when no line matches. `#` lines are comments; each
/// line loses its trailing CR and LF characters.
pub fn passfile_password(
    passfile: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<Vec<u8>> {
    for line in passfile.as_bytes().split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        let mut end = line.len();
        while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let line = &line[..end];
        // A C string: a NUL ends the line for libpq.
        let line = &line[..line.iter().position(|b| *b == 0).unwrap_or(line.len())];
        if line.is_empty() {
            continue;
        }
        let rest = field_matches(line, host.as_bytes())
            .and_then(|rest| field_matches(rest, port.as_bytes()))
            .and_then(|rest| field_matches(rest, dbname.as_bytes()))
            .and_then(|rest| field_matches(rest, user.as_bytes()));
        if let Some(rest) = rest {
            let mut password = Vec::new();
            let mut i = 0;
            while i < rest.len() && rest[i] != b':' {
                if rest[i] == b'\\' && i + 1 < rest.len() {
                    i += 1;
                }
                password.push(rest[i]);
                i += 1;
            }
            return Some(password);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conninfo_like_libpq() {
        let pairs = conninfo("host=a  port = 5 passfile='/x y/it\\'s' k=\\ v").unwrap();
        let pairs: Vec<(&str, &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("host", b"a".as_slice()),
                ("port", b"5"),
                ("passfile", b"/x y/it's"),
                ("k", b" v"),
            ]
        );
        assert!(conninfo("host").is_err());
        assert!(conninfo("a='x").is_err());
    }

    #[test]
    fn reads_passfiles_like_libpq() {
        let file = "# c\nh:5432:db:u:wrong\n*:*:*:r:p\\:a\\\\ss:tail\r\n";
        assert_eq!(
            passfile_password(file, "h", "5432", "db", "r").as_deref(),
            Some(b"p:a\\ss".as_slice())
        );
        assert_eq!(
            passfile_password(file, "h", "5432", "db", "u").as_deref(),
            Some(b"wrong".as_slice())
        );
        assert_eq!(passfile_password(file, "h", "5432", "db", "x"), None);
    }
}
