//! OpenSSH's host patterns, as its match.c reads them: in, a host name and
//! a pattern (`*`, `?`) or a comma list of them (`!` negates); out, whether
//! the name matches. Case-insensitive, as ssh lowercases both. Pure.

/// How a comma list of patterns judges a name: OpenSSH's `match_hostname`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// No pattern matches.
    None,
    /// A pattern matches and no negated one does.
    Positive,
    /// A negated pattern matches: the list excludes the name, whatever else matches.
    Negated,
}

/// One pattern against one name: `*` is any run of characters, `?` any one.
pub fn matches(name: &str, pattern: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    glob(name.as_bytes(), pattern.as_bytes())
}

fn glob(name: &[u8], pattern: &[u8]) -> bool {
    // Iterative wildcard matching with one backtrack point: the last `*`.
    let (mut n, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            n += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A comma list such as `*.example.com,!db9.example.com` against a name.
pub fn match_list(name: &str, list: &str) -> ListMatch {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if matches(name, pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Positive
    } else {
        ListMatch::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_in_openssh() {
        for (name, pattern) in [
            ("db1.example.com", "db1.example.com"),
            ("db1.example.com", "*.example.com"),
            ("db1.example.com", "db?.example.com"),
            ("db1.example.com", "*"),
            ("db1.example.com", "d*1*.com"),
            ("DB1.Example.COM", "db1.example.com"),
            ("db1.example.com", "DB1.*"),
            ("10.0.0.13", "10.0.0.*"),
            ("[10.0.0.13]:2222", "[10.0.0.13]:2222"),
            ("[10.0.0.13]:2222", "[10.0.0.*]:2222"),
            ("[10.0.0.13]:2222", "[10.0.0.13]:*"),
            ("aaa", "*a"),
            ("", "*"),
        ] {
            assert!(matches(name, pattern), "{name} should match {pattern}");
        }
        for (name, pattern) in [
            ("db1.example.com", "db2.example.com"),
            ("db1.example.com", "*.example.org"),
            ("db10.example.com", "db?.example.com"),
            ("db1.example.com", "db1"),
            ("db1", "db1.example.com"),
            // A port makes the name `[host]:port`: a bare pattern does not cover it.
            ("[db1.example.com]:2222", "*.example.com"),
            ("[db1.example.com]:2222", "db1.example.com"),
            ("db1.example.com", "[db1.example.com]:22"),
            ("ab", "*a"),
            ("", "?"),
        ] {
            assert!(!matches(name, pattern), "{name} should not match {pattern}");
        }
    }

    #[test]
    fn a_negated_pattern_excludes_whatever_else_matches() {
        let list = "*.example.com,!db9.example.com";
        assert_eq!(match_list("db1.example.com", list), ListMatch::Positive);
        assert_eq!(match_list("db9.example.com", list), ListMatch::Negated);
        assert_eq!(match_list("db1.example.org", list), ListMatch::None);
        // Order does not matter: the negation wins.
        assert_eq!(
            match_list("db9.example.com", "!db9.example.com,*"),
            ListMatch::Negated
        );
        // A negation alone never makes a match.
        assert_eq!(match_list("db1.example.com", "!db9.*"), ListMatch::None);
        assert_eq!(
            match_list("10.0.0.13", "db1,10.0.0.13,db3"),
            ListMatch::Positive
        );
    }
}
