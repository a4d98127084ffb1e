//! OpenSSH's client configuration, read as its readconf.c reads it. In: the
//! text of ssh_config files (the user's `~/.ssh/config`, then the
//! machine's `/etc/ssh/ssh_config`) and the host, remote user and local
//! user of one connection. Out: the first value each keyword obtained in the
//! blocks that apply, which is what ssh would use. Pure, but for
//! [`HostOptions::read`], which reads those files and their `Include`s.
//!
//! Why not a crate: ssh2-config 0.9, the maintained one, skips `Match` and
//! files the options of a `Match` block under the `Host` block before it
//! (`Host foo` … `Match host bar` / `HashKnownHosts no` gives foo `no`), so
//! a common configuration would be read wrong. The grammar is small.
//!
//! What ssh decides at connection time and mirrorset cannot: `Match exec`
//! (mirrorset never runs a command from ssh_config), `localnetwork`,
//! `tagged` and `canonical` (no hostname canonicalization) never match.
//! `Match final` matches, as in ssh's last pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::host_pattern::{ListMatch, match_list, matches};

/// The machine's client configuration, which ssh reads after the user's.
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// Includes nested deeper than this are ignored, as ssh refuses them.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The connection the configuration is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The host as written for the node: what `Host` patterns match.
    pub host: &'a str,
    /// The remote login user when the cluster file names it (as `ssh -l`
    /// would); else `Match user` sees User as obtained so far, else the
    /// local user, as ssh does.
    pub user: Option<&'a str>,
    /// The local user running mirrorset (`Match localuser`).
    pub local_user: &'a str,
}

/// One configuration file to read: its text, and the folder its relative
/// `Include`s are found in (`~/.ssh` for the user's, `/etc/ssh` for the machine's).
pub struct Source {
    pub text: String,
    pub include_base: PathBuf,
}

/// What ssh_config says for one connection: the first value of each
/// keyword, and every value of those that add up (IdentityFile).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// Lowercase keyword → the arguments of each line that set it, in order.
    values: HashMap<String, Vec<Vec<String>>>,
    /// Keywords in the order they were first obtained.
    order: Vec<String>,
}

impl HostOptions {
    /// Reads `file` alone when given, as `ssh -F file` does (relative
    /// Includes from ~/.ssh); else `~/.ssh/config` (from `$HOME`) then
    /// `/etc/ssh/ssh_config`. A file that is missing or unreadable is
    /// skipped: ssh_config only refines what the cluster file says.
    pub fn read(connection: Connection<'_>, file: Option<&Path>) -> Self {
        let mut sources = Vec::new();
        if let Some(file) = file {
            let include_base = std::env::var_os("HOME")
                .map(|home| Path::new(&home).join(".ssh"))
                .unwrap_or_default();
            if let Ok(text) = std::fs::read_to_string(file) {
                sources.push(Source { text, include_base });
            }
            return Self::evaluate(connection, &sources, &mut read_includes);
        }
        if let Some(home) = std::env::var_os("HOME") {
            let base = Path::new(&home).join(".ssh");
            if let Ok(text) = std::fs::read_to_string(base.join("config")) {
                sources.push(Source {
                    text,
                    include_base: base,
                });
            }
        }
        if let Ok(text) = std::fs::read_to_string(SYSTEM_CONFIG) {
            sources.push(Source {
                text,
                include_base: PathBuf::from("/etc/ssh"),
            });
        }
        Self::evaluate(connection, &sources, &mut read_includes)
    }

    /// The options for `connection` from `sources` in order; `include` gives
    /// the texts an `Include` argument names, already resolved against the base.
    pub fn evaluate(
        connection: Connection<'_>,
        sources: &[Source],
        include: &mut dyn FnMut(&Path) -> Vec<String>,
    ) -> Self {
        let mut reading = Reading {
            connection,
            options: Self::default(),
            include,
            final_pass: false,
            final_named: false,
        };
        for source in sources {
            reading.file(&source.text, &source.include_base, 0);
        }
        // ssh reads everything again for `Match final` blocks: what the
        // first pass set stays (first value wins), the rest may be set now.
        if reading.final_named {
            let first = std::mem::take(&mut reading.options);
            reading.final_pass = true;
            for source in sources {
                reading.file(&source.text, &source.include_base, 0);
            }
            let second = std::mem::replace(&mut reading.options, first);
            for (keyword, lines) in second.values {
                reading.options.values.entry(keyword).or_insert(lines);
            }
        }
        reading.options
    }

    /// The arguments of `keyword` (any case) as first set by a block that
    /// applies: the value ssh uses for all but a few keywords.
    pub fn get(&self, keyword: &str) -> Option<&[String]> {
        self.values
            .get(&keyword.to_ascii_lowercase())
            .and_then(|lines| lines.first())
            .map(Vec::as_slice)
    }

    /// Every argument of every line that set `keyword`, in order: for
    /// IdentityFile, whose values ssh tries one after another.
    pub fn all(&self, keyword: &str) -> Vec<&str> {
        self.values
            .get(&keyword.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Which of `keywords` was obtained first, if any: ssh lets the first
    /// of ProxyCommand and ProxyJump decide, the other is then ignored.
    pub fn first_of<'k>(&self, keywords: &[&'k str]) -> Option<&'k str> {
        self.order.iter().find_map(|obtained| {
            keywords
                .iter()
                .copied()
                .find(|keyword| keyword.eq_ignore_ascii_case(obtained))
        })
    }

    /// `HashKnownHosts yes`: new known_hosts lines name the host hashed.
    pub fn hash_known_hosts(&self) -> bool {
        self.flag("HashKnownHosts")
    }

    fn flag(&self, keyword: &str) -> bool {
        self.get(keyword)
            .and_then(<[String]>::first)
            .is_some_and(|value| value.eq_ignore_ascii_case("yes"))
    }
}

/// The `Include` reader used for real files: globs, sorted, as ssh expands them.
fn read_includes(pattern: &Path) -> Vec<String> {
    let Some(pattern) = pattern.to_str() else {
        return Vec::new();
    };
    // As glob(3) in ssh: `*` does not match a leading dot (editor backups).
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let Ok(paths) = glob::glob_with(pattern, options) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect()
}

struct Reading<'c, 'i> {
    connection: Connection<'c>,
    options: HostOptions,
    include: &'i mut dyn FnMut(&Path) -> Vec<String>,
    /// The second pass ssh makes when a `Match final` exists.
    final_pass: bool,
    final_named: bool,
}

impl Reading<'_, '_> {
    /// One file: every file starts with its lines applying to every host.
    fn file(&mut self, text: &str, include_base: &Path, depth: usize) {
        let mut active = true;
        for line in text.lines() {
            let Some((keyword, arguments)) = split_line(line) else {
                continue;
            };
            match keyword.as_str() {
                "host" => active = self.host_applies(&arguments),
                "match" => active = self.match_applies(&arguments),
                "include" if active && depth < MAX_INCLUDE_DEPTH => {
                    self.includes(&arguments, include_base, depth);
                }
                "include" => {}
                _ if active => {
                    if !self.options.values.contains_key(&keyword) {
                        self.options.order.push(keyword.clone());
                    }
                    self.options
                        .values
                        .entry(keyword)
                        .or_default()
                        .push(arguments);
                }
                _ => {}
            }
        }
    }

    /// An included file's `Host` and `Match` lines end with it: the
    /// including block applies again after the `Include` line.
    fn includes(&mut self, arguments: &[String], include_base: &Path, depth: usize) {
        for argument in arguments {
            let path = expand_tilde(argument);
            let path = if path.is_absolute() {
                path
            } else {
                include_base.join(path)
            };
            for text in (self.include)(&path) {
                self.file(&text, include_base, depth + 1);
            }
        }
    }

    /// `Host a b !c`: one pattern matches and no negated one does.
    fn host_applies(&self, patterns: &[String]) -> bool {
        let host = self.connection.host;
        let mut positive = false;
        for pattern in patterns {
            match pattern.strip_prefix('!') {
                Some(negated) if matches(host, negated) => return false,
                Some(_) => {}
                None => positive |= matches(host, pattern),
            }
        }
        positive
    }

    /// `Match` criteria, all of which must hold; `!` negates one. A block
    /// with a criterion mirrorset cannot decide (`exec`: it runs nothing
    /// from ssh_config; `localnetwork`, `tagged`) never applies, negated
    /// or not. `final` holds only in the second pass, as in ssh;
    /// `canonical` never (mirrorset does not canonicalize host names).
    fn match_applies(&mut self, arguments: &[String]) -> bool {
        let mut arguments = arguments.iter();
        let mut all = true;
        while let Some(criterion) = arguments.next() {
            let (negated, criterion) = match criterion.strip_prefix('!') {
                Some(rest) => (true, rest.to_ascii_lowercase()),
                None => (false, criterion.to_ascii_lowercase()),
            };
            let holds = match criterion.as_str() {
                "all" => true,
                "final" => {
                    self.final_named = true;
                    self.final_pass
                }
                "canonical" => false,
                "host" | "originalhost" | "user" | "localuser" => {
                    let Some(list) = arguments.next() else {
                        return false;
                    };
                    let subject = match criterion.as_str() {
                        "host" => self.host_name(),
                        "originalhost" => self.connection.host.to_owned(),
                        "user" => self.user(),
                        _ => self.connection.local_user.to_owned(),
                    };
                    match_list(&subject, list) == ListMatch::Positive
                }
                // exec, localnetwork, tagged, and any other criterion with
                // an argument: undecidable here, so the block does not apply.
                _ => return false,
            };
            all &= holds != negated;
        }
        all
    }

    /// The user `Match user` tests.
    fn user(&self) -> String {
        match self.connection.user {
            Some(user) => user.to_owned(),
            None => self
                .options
                .get("User")
                .and_then(<[String]>::first)
                .cloned()
                .unwrap_or_else(|| self.connection.local_user.to_owned()),
        }
    }

    /// The name `Match host` tests: HostName as obtained so far (`%h` is
    /// the host as written), else the host as written.
    fn host_name(&self) -> String {
        match self.options.get("HostName").and_then(<[String]>::first) {
            Some(name) => name.replace("%h", self.connection.host),
            None => self.connection.host.to_owned(),
        }
    }
}

fn expand_tilde(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

/// `Keyword arg …` or `Keyword=arg …`: the lowercase keyword and its
/// arguments, `"…"` or `'…'` quoting spaces, a `#` word ending the line. None for
/// blank lines and comments.
fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(after_equals) = rest.strip_prefix('=') {
        rest = after_equals.trim_start();
    }
    Some((keyword, words(rest)))
}

fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return words,
            _ => {}
        }
        let mut word = String::new();
        // As argv_split in ssh: '…' and "…" quote; a backslash escapes a
        // quote, a backslash, or (unquoted) a space.
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('\'' | '"' | '\\'))
                    || (quote.is_none() && chars.peek() == Some(&' ')) =>
                {
                    word.extend(chars.next());
                }
                '\'' | '"' if quote.is_none() => quote = Some(c),
                c if Some(c) == quote => quote = None,
                c if c.is_whitespace() && quote.is_none() => break,
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTION: Connection<'static> = Connection {
        host: "db1.example.com",
        user: Some("postgres"),
        local_user: "ops",
    };

    fn options(host: &str, texts: &[&str]) -> HostOptions {
        options_with_includes(host, texts, &[])
    }

    fn options_with_includes(host: &str, texts: &[&str], includes: &[(&str, &str)]) -> HostOptions {
        let sources: Vec<Source> = texts
            .iter()
            .map(|text| Source {
                text: (*text).to_owned(),
                include_base: PathBuf::from("/home/ops/.ssh"),
            })
            .collect();
        let mut include = |path: &Path| {
            includes
                .iter()
                .filter(|(name, _)| Path::new(name) == path)
                .map(|(_, text)| (*text).to_owned())
                .collect()
        };
        HostOptions::evaluate(Connection { host, ..CONNECTION }, &sources, &mut include)
    }

    fn hashed(host: &str, texts: &[&str]) -> bool {
        options(host, texts).hash_known_hosts()
    }

    /// Debian's /etc/ssh/ssh_config, as the package ships it.
    const DEBIAN: &str = "Include /etc/ssh/ssh_config.d/*.conf\n\nHost *\n#   ForwardAgent no\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n";

    #[test]
    fn the_first_value_obtained_wins_across_files() {
        assert!(hashed("db1", &[DEBIAN]));
        assert!(!hashed("db1", &["HashKnownHosts no\n", DEBIAN]));
        assert!(hashed(
            "db1",
            &["Host other\n  HashKnownHosts no\n", DEBIAN]
        ));
        assert!(!hashed(
            "db1",
            &["Host *\n  HashKnownHosts no\nHost *\n  HashKnownHosts yes\n"]
        ));
        assert!(!hashed("db1", &[]));
    }

    #[test]
    fn host_patterns_negate_and_ignore_case() {
        let text = "Host !db9* DB* \n HashKnownHosts=yes\n";
        assert!(hashed("db1", &[text]));
        assert!(!hashed("db9", &[text]));
        assert!(!hashed("app1", &[text]));
        assert!(!hashed("db1", &["Host !db9\n HashKnownHosts yes\n"]));
    }

    /// ssh2-config reads this one wrong: the Match block is not Host foo's.
    #[test]
    fn a_match_block_ends_the_host_block_before_it() {
        let text = "Host db1\n  HostName 10.0.0.1\nMatch host db2\n  HashKnownHosts no\nHost *\n  HashKnownHosts yes\n";
        assert!(hashed("db1", &[text]));
        assert!(!hashed("db2", &[text]));
        assert_eq!(
            options("db1", &[text]).get("hostname"),
            Some(&["10.0.0.1".to_owned()][..])
        );
    }

    #[test]
    fn match_criteria() {
        let decide = |criteria: &str| {
            hashed(
                "db1",
                &[&format!("Match {criteria}\n HashKnownHosts yes\n")],
            )
        };
        assert!(decide("all"));
        assert!(decide("host db*,!db2"));
        assert!(!decide("!host db1"));
        assert!(decide("originalhost db1 user postgres"));
        assert!(!decide("originalhost db1 user root"));
        assert!(decide("localuser ops"));
        // `final` blocks apply in ssh's second pass, after everything else.
        assert!(decide("final"));
        let text = "Match final\n HashKnownHosts yes\nHost *\n HashKnownHosts no\n";
        assert!(!hashed("db1", &[text]));
        assert!(!decide("canonical"));
        // Undecidable here: the block never applies, negated or not.
        assert!(!decide("exec \"true\""));
        assert!(!decide("!exec \"true\""));
        assert!(!decide("localnetwork 10.0.0.0/8"));
        // `Match host` sees HostName as obtained so far.
        let text =
            "Host db1\n HostName %h.example.com\nMatch host *.example.com\n HashKnownHosts yes\n";
        assert!(hashed("db1", &[text]));
        assert!(!hashed("db2", &[text]));
    }

    #[test]
    fn includes_apply_within_their_block_and_end_with_their_file() {
        let included = "HashKnownHosts yes\nHost nothing\n";
        let text = "Host db1\n  Include conf.d/*.conf\n  User admin\n";
        let options = options_with_includes(
            "db1",
            &[text],
            &[("/home/ops/.ssh/conf.d/*.conf", included)],
        );
        assert!(options.hash_known_hosts());
        assert_eq!(options.get("user"), Some(&["admin".to_owned()][..]));
        let options = options_with_includes(
            "db2",
            &[text],
            &[("/home/ops/.ssh/conf.d/*.conf", included)],
        );
        assert!(!options.hash_known_hosts());
        // An include that names itself stops at the depth limit.
        let looping = "Include loop\nHashKnownHosts yes\n";
        assert!(
            options_with_includes("db1", &[looping], &[("/home/ops/.ssh/loop", looping)])
                .hash_known_hosts()
        );
    }

    #[test]
    fn match_user_sees_the_user_obtained_so_far_unless_the_cluster_file_names_one() {
        let text = "Host db*\n User admin\nMatch user admin\n HashKnownHosts yes\n";
        let evaluate = |user| {
            HostOptions::evaluate(
                Connection {
                    host: "db1",
                    user,
                    local_user: "ops",
                },
                &[Source {
                    text: text.to_owned(),
                    include_base: PathBuf::from("/home/ops/.ssh"),
                }],
                &mut |_| Vec::new(),
            )
            .hash_known_hosts()
        };
        assert!(evaluate(None));
        assert!(!evaluate(Some("postgres")));
    }

    #[test]
    fn proxy_command_and_proxy_jump_first_obtained_decides() {
        let options = options(
            "db1",
            &["Host db1\n ProxyCommand none\nHost *\n ProxyJump bastion\n"],
        );
        assert_eq!(
            options.first_of(&["ProxyCommand", "ProxyJump"]),
            Some("ProxyCommand")
        );
        let options = super::HostOptions::default();
        assert_eq!(options.first_of(&["ProxyCommand", "ProxyJump"]), None);
    }

    #[test]
    fn lines_split_as_ssh_splits_them() {
        assert_eq!(
            split_line("IdentityFile '/keys/my key' ~/.ssh/other\\ key \"a\\\"b\""),
            Some((
                "identityfile".to_owned(),
                vec![
                    "/keys/my key".to_owned(),
                    "~/.ssh/other key".to_owned(),
                    "a\"b".to_owned()
                ]
            ))
        );
        assert_eq!(split_line("   # a comment"), None);
        assert_eq!(split_line(""), None);
        assert_eq!(
            split_line("IdentityFile \"/keys/my key\" # mine"),
            Some(("identityfile".to_owned(), vec!["/keys/my key".to_owned()]))
        );
        assert_eq!(
            split_line("HashKnownHosts = yes"),
            Some(("hashknownhosts".to_owned(), vec!["yes".to_owned()]))
        );
        assert_eq!(
            split_line("Host\ta\tb"),
            Some(("host".to_owned(), vec!["a".to_owned(), "b".to_owned()]))
        );
    }
}
