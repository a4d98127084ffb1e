//! PostgreSQL 15's readers of the files mirrorset writes, modelled from
//! its sources: one postgresql.conf line (guc-file.l's lexer and
//! ParseConfigFp, DeescapeQuotedString), one pg_hba.conf line (hba.c's
//! next_token and the keywords parse_hba_line gives meaning to), and what
//! glibc's getaddrinfo(AI_NUMERICHOST) takes for an IPv4 address (inet_aton's
//! forms). In: bytes of one line. Out: tokens and values. Pure.

use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GucToken {
    // In guc-file.l's rule order: on equal length, the first rule wins.
    Id,
    QualifiedId,
    String,
    UnquotedString,
    Integer,
    Real,
    Equals,
    Error,
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_letter_or_digit(b: u8) -> bool {
    is_letter(b) || b.is_ascii_digit()
}

/// Length of `{ID}` at the start of `s`.
fn id_len(s: &[u8]) -> usize {
    match s.first() {
        Some(b) if is_letter(*b) => {
            1 + s[1..]
                .iter()
                .take_while(|b| is_letter_or_digit(**b))
                .count()
        }
        _ => 0,
    }
}

fn qualified_id_len(s: &[u8]) -> usize {
    let first = id_len(s);
    if first == 0 || s.get(first) != Some(&b'.') {
        return 0;
    }
    match id_len(&s[first + 1..]) {
        0 => 0,
        second => first + 1 + second,
    }
}

/// `\'([^'\\\n]|\\.|\'\')*\'`: the longest match.
fn string_len(s: &[u8]) -> usize {
    if s.first() != Some(&b'\'') {
        return 0;
    }
    let mut longest = 0;
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\'' => {
                longest = i + 1;
                if s.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else {
                    break;
                }
            }
            b'\\' => match s.get(i + 1) {
                Some(b'\n') | None => break,
                Some(_) => i += 2,
            },
            b'\n' => break,
            _ => i += 1,
        }
    }
    longest
}

fn unquoted_string_len(s: &[u8]) -> usize {
    match s.first() {
        Some(b) if is_letter(*b) => {
            1 + s[1..]
                .iter()
                .take_while(|b| {
                    is_letter_or_digit(**b) || matches!(b, b'-' | b'.' | b'_' | b':' | b'/')
                })
                .count()
        }
        _ => 0,
    }
}

fn sign_len(s: &[u8]) -> usize {
    usize::from(matches!(s.first(), Some(b'-' | b'+')))
}

fn count(s: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    s.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|b| class(**b)).count())
}

/// `{SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*`
fn integer_len(s: &[u8]) -> usize {
    let sign = sign_len(s);
    let digits = count(s, sign, |b| b.is_ascii_digit());
    let decimal = if digits > 0 {
        let at = sign + digits;
        at + count(s, at, |b| b.is_ascii_alphabetic())
    } else {
        0
    };
    let hex = if s.get(sign..sign + 2) == Some(b"0x") {
        let digits = count(s, sign + 2, |b| b.is_ascii_hexdigit());
        if digits > 0 {
            let at = sign + 2 + digits;
            at + count(s, at, |b| b.is_ascii_alphabetic())
        } else {
            0
        }
    } else {
        0
    };
    decimal.max(hex)
}

/// `{SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?` with `[Ee]{SIGN}?{DIGIT}+`
fn real_len(s: &[u8]) -> usize {
    let mut at = sign_len(s);
    at += count(s, at, |b| b.is_ascii_digit());
    if s.get(at) != Some(&b'.') {
        return 0;
    }
    at += 1;
    at += count(s, at, |b| b.is_ascii_digit());
    if matches!(s.get(at), Some(b'e' | b'E')) {
        let sign = sign_len(&s[at + 1..]);
        let digits = count(s, at + 1 + sign, |b| b.is_ascii_digit());
        if digits > 0 {
            at += 1 + sign + digits;
        }
    }
    at
}

/// The tokens of one line (no `\n`), white space and the comment dropped.
pub fn guc_tokens(line: &[u8]) -> Vec<(GucToken, &[u8])> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        if matches!(rest[0], b' ' | b'\t' | b'\r') {
            i += 1;
            continue;
        }
        if rest[0] == b'#' {
            break;
        }
        let candidates = [
            (GucToken::Id, id_len(rest)),
            (GucToken::QualifiedId, qualified_id_len(rest)),
            (GucToken::String, string_len(rest)),
            (GucToken::UnquotedString, unquoted_string_len(rest)),
            (GucToken::Integer, integer_len(rest)),
            (GucToken::Real, real_len(rest)),
            (GucToken::Equals, usize::from(rest[0] == b'=')),
            (GucToken::Error, 1),
        ];
        let (token, len) = candidates
            .iter()
            .copied()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("candidates");
        tokens.push((token, &rest[..len]));
        i += len;
    }
    tokens
}

/// DeescapeQuotedString: the value of a quoted token, quotes included.
pub fn deescape(token: &[u8]) -> Vec<u8> {
    let s = &token[1..token.len() - 1];
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            i += 1;
            match s[i] {
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let mut value: u32 = 0;
                    let mut k = 0;
                    while k < 3 && matches!(s.get(i + k), Some(b'0'..=b'7')) {
                        value = (value << 3) + u32::from(s[i + k] - b'0');
                        k += 1;
                    }
                    i += k - 1;
                    out.push(value as u8);
                }
                other => out.push(other),
            }
        } else if s[i] == b'\'' && s.get(i + 1) == Some(&b'\'') {
            i += 1;
            out.push(b'\'');
        } else {
            out.push(s[i]);
        }
        i += 1;
    }
    out
}

/// What PostgreSQL makes of one postgresql.conf line: None for a blank or
/// comment line, Some(Err) for a syntax error, Some(Ok((name, value))).
/// The value is cut at a NUL, as the C string it becomes.
#[allow(clippy::type_complexity)]
pub fn guc_line(line: &[u8]) -> Option<Result<(Vec<u8>, Vec<u8>), ()>> {
    let tokens = guc_tokens(line);
    let mut tokens = tokens.into_iter().peekable();
    let (kind, name) = tokens.next()?;
    if !matches!(kind, GucToken::Id | GucToken::QualifiedId) {
        return Some(Err(()));
    }
    if tokens.peek().map(|t| t.0) == Some(GucToken::Equals) {
        tokens.next();
    }
    let Some((kind, value)) = tokens.next() else {
        return Some(Err(()));
    };
    let mut value = match kind {
        GucToken::String => deescape(value),
        GucToken::Id | GucToken::Integer | GucToken::Real | GucToken::UnquotedString => {
            value.to_vec()
        }
        _ => return Some(Err(())),
    };
    if tokens.next().is_some() {
        return Some(Err(()));
    }
    if let Some(nul) = value.iter().position(|b| *b == 0) {
        value.truncate(nul);
    }
    Some(Ok((name.to_vec(), value)))
}

/// One token of a pg_hba.conf field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaToken {
    pub text: Vec<u8>,
    /// Began with a double quote: keywords then lose their meaning.
    pub quoted: bool,
}

fn hba_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// next_token: the next token from `line[*pos..]`, and whether a comma ends it.
fn next_token(line: &[u8], pos: &mut usize) -> Option<(HbaToken, bool)> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut c;
    loop {
        c = at(*pos);
        *pos += 1;
        if c == 0 || !(hba_blank(c) || c == b',') {
            break;
        }
    }
    let (mut in_quote, mut was_quote, mut saw_quote) = (false, false, false);
    let mut initial_quote = false;
    let mut comma = false;
    let mut text = Vec::new();
    while c != 0 && (!hba_blank(c) || in_quote) {
        if c == b'#' && !in_quote {
            *pos = line.len() + 1;
            break;
        }
        if c == b',' && !in_quote {
            comma = true;
            break;
        }
        if c != b'"' || was_quote {
            text.push(c);
        }
        if in_quote && c == b'"' {
            was_quote = !was_quote;
        } else {
            was_quote = false;
        }
        if c == b'"' {
            in_quote = !in_quote;
            saw_quote = true;
            if text.is_empty() {
                initial_quote = true;
            }
        }
        c = at(*pos);
        *pos += 1;
    }
    *pos -= 1;
    (saw_quote || !text.is_empty()).then_some((
        HbaToken {
            text,
            quoted: initial_quote,
        },
        comma,
    ))
}

/// The fields of one pg_hba.conf line (no `\n`), each a comma list of
/// tokens, as next_field_expand collects them (file inclusion aside).
pub fn hba_fields(line: &[u8]) -> Vec<Vec<HbaToken>> {
    let line = &line[..line.iter().position(|b| *b == 0).unwrap_or(line.len())];
    let mut pos = 0;
    let mut fields = Vec::new();
    loop {
        let mut field = Vec::new();
        while let Some((token, comma)) = next_token(line, &mut pos) {
            field.push(token);
            if !comma {
                break;
            }
        }
        if field.is_empty() {
            return fields;
        }
        fields.push(field);
    }
}

/// getaddrinfo(AI_NUMERICHOST) on glibc, IPv4: inet_aton's one to four
/// numbers (decimal, 0-octal or 0x-hex), the last filling the rest.
pub fn numeric_ipv4(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::new();
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        // inet_aton takes "0x" alone as 0; an empty part is an error.
        if part.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        numbers.push(value);
    }
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|n| *n > 255) || *last >= 1u64 << (8 * (4 - leading.len())) {
        return None;
    }
    let mut address = *last as u32;
    for (index, n) in leading.iter().enumerate() {
        address |= (*n as u32) << (24 - 8 * index);
    }
    Some(Ipv4Addr::from(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conf_lines_like_postgres() {
        let ok = |line: &str, name: &str, value: &[u8]| {
            assert_eq!(
                guc_line(line.as_bytes()),
                Some(Ok((name.as_bytes().to_vec(), value.to_vec()))),
                "{line}"
            )
        };
        ok("a = 'it''s \\\\ \\n \\101'", "a", b"it's \\ \n A");
        ok("a.b 'x=y' # c", "a.b", b"x=y");
        ok("port=5432", "port", b"5432");
        ok("x = -0.5", "x", b"-0.5");
        ok("x = on#c", "x", b"on");
        ok("p = a/b-c.d:e", "p", b"a/b-c.d:e");
        assert_eq!(guc_line(b"p = /a"), Some(Err(())));
        assert_eq!(guc_line(b"# only"), None);
        assert_eq!(guc_line(b"x = 1e5"), Some(Err(())));
        assert_eq!(guc_line(b"x = 'a' b"), Some(Err(())));
        assert_eq!(guc_line(b"x = 'a"), Some(Err(())));
    }

    #[test]
    fn reads_hba_lines_like_postgres() {
        let fields = hba_fields(b"host replication \"all\",b 10.0.0.1/32 scram-sha-256 # x");
        let texts: Vec<Vec<(&[u8], bool)>> = fields
            .iter()
            .map(|f| f.iter().map(|t| (t.text.as_slice(), t.quoted)).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec![(b"host".as_slice(), false)],
                vec![(b"replication".as_slice(), false)],
                vec![(b"all".as_slice(), true), (b"b".as_slice(), false)],
                vec![(b"10.0.0.1/32".as_slice(), false)],
                vec![(b"scram-sha-256".as_slice(), false)],
            ]
        );
    }

    #[test]
    fn reads_numeric_hosts_like_glibc() {
        assert_eq!(numeric_ipv4("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(numeric_ipv4("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(numeric_ipv4("0x0a.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(numeric_ipv4("1234"), Some(Ipv4Addr::new(0, 0, 4, 210)));
        assert_eq!(numeric_ipv4("10.0x1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(numeric_ipv4("10.0.0.256"), None);
        assert_eq!(numeric_ipv4("a1"), None);
        assert_eq!(numeric_ipv4("10.0.0.1."), None);
        assert_eq!(numeric_ipv4("08"), None);
    }
}
