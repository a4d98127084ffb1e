//! known_hosts read and written as OpenSSH does: in, the text of the
//! known_hosts files, the host's name as they spell it (`host`, or
//! `[host]:port` off port 22) and the key its server presented; out, the
//! verdict (known, changed, revoked, vouched for by a `@cert-authority`,
//! unknown), the host key algorithms to ask for, and the line to add
//! (`name type key`, the name hashed when ssh_config says so). Pure.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::host_pattern::{ListMatch, match_list};

/// How known_hosts names a host: `host` on port 22, `[host]:port`
/// otherwise; lowercase, as ssh looks names up (and hashes them).
pub fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// A public key in SSH wire format, with the type name its blob starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    kind: String,
    blob: Vec<u8>,
}

impl HostKey {
    /// The key from its wire blob; None when the blob does not start with a type name.
    pub fn from_blob(blob: &[u8]) -> Option<Self> {
        let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        let kind = blob.get(4..4usize.checked_add(length)?)?;
        let kind = std::str::from_utf8(kind).ok()?;
        if kind.is_empty() || !kind.bytes().all(|c| c.is_ascii_graphic()) {
            return None;
        }
        Some(Self {
            kind: kind.to_owned(),
            blob: blob.to_vec(),
        })
    }

    /// The key type as known_hosts writes it: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// An OpenSSH certificate (`…-cert-v01@openssh.com`), not a plain key.
    pub fn is_certificate(&self) -> bool {
        self.kind.ends_with("-cert-v01@openssh.com")
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    /// `type base64`, the key part of a known_hosts line.
    pub fn text(&self) -> String {
        format!("{} {}", self.kind, STANDARD.encode(&self.blob))
    }
}

/// The line that trusts `key` for `name`, newline included.
pub fn plain_line(name: &str, key: &HostKey) -> String {
    format!("{name} {}\n", key.text())
}

/// The line that trusts `key` for `name` hashed, as ssh writes it under
/// `HashKnownHosts yes`: the name cannot be read back, only tested.
pub fn hashed_line(name: &str, key: &HostKey, salt: &[u8; 20]) -> String {
    format!("{} {}\n", hashed_name(name, salt), key.text())
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_name(name: &str, salt: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(salt).expect("HMAC takes keys of any length");
    mac.update(name.as_bytes());
    format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Whether a line's host field names `name`: a hashed name, or a comma
/// list of patterns none of which excludes it.
fn names(hosts: &str, name: &str) -> bool {
    if let Some(hashed) = hosts.strip_prefix("|1|") {
        let Some((salt, _)) = hashed.split_once('|') else {
            return false;
        };
        match STANDARD.decode(salt) {
            Ok(salt) => hashed_name(name, &salt) == hosts,
            Err(_) => false,
        }
    } else {
        match_list(name, hosts) == ListMatch::Positive
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

/// One line OpenSSH would read; lines it would skip (comments, a key that
/// does not parse or whose type field disagrees with the key) are never made.
struct Line<'a> {
    number: usize,
    marker: Marker,
    hosts: &'a str,
    key: HostKey,
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let mut fields = line.split_whitespace().peekable();
        let marker = match *fields.peek()? {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            first if first.starts_with('@') || first.starts_with('#') => return None,
            _ => Marker::None,
        };
        if marker != Marker::None {
            fields.next();
        }
        let hosts = fields.next()?;
        let kind = fields.next()?;
        let key = HostKey::from_blob(&STANDARD.decode(fields.next()?).ok()?)?;
        (key.kind == kind).then_some(Line {
            number: index + 1,
            marker,
            hosts,
            key,
        })
    })
}

/// The text of one known_hosts file, with where it came from.
pub struct KnownHostsFile {
    pub path: PathBuf,
    pub text: String,
}

/// A line of a known_hosts file, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
}

impl Place {
    fn new(path: &Path, line: usize) -> Self {
        Self {
            file: path.to_path_buf(),
            line,
        }
    }
}

/// What the known_hosts files say about the key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line trusts this key for this host.
    Known,
    /// The key is marked `@revoked` (for any host): never accepted.
    Revoked(Place),
    /// Lines name this host, none with this key: the first of them.
    Changed(Place),
    /// No key for this host, but a `@cert-authority` line covers it.
    CertAuthority(Place),
    /// Nothing names this host.
    Unknown,
}

/// The verdict over all files together (the user's, then the machine's),
/// as ssh judges them; stricter than ssh in one way: a host whose known
/// keys are all of other types is "changed", not new.
pub fn check(files: &[KnownHostsFile], name: &str, key: &HostKey) -> Verdict {
    let all = || {
        files
            .iter()
            .flat_map(|file| lines(&file.text).map(move |line| (file.path.as_path(), line)))
    };
    if let Some((path, line)) =
        all().find(|(_, line)| line.marker == Marker::Revoked && line.key == *key)
    {
        return Verdict::Revoked(Place::new(path, line.number));
    }
    let for_host: Vec<_> = all().filter(|(_, line)| names(line.hosts, name)).collect();
    let plain = || {
        for_host
            .iter()
            .filter(|(_, line)| line.marker == Marker::None)
    };
    if plain().any(|(_, line)| line.key == *key) {
        return Verdict::Known;
    }
    if let Some((path, line)) = plain().next() {
        return Verdict::Changed(Place::new(path, line.number));
    }
    match for_host
        .iter()
        .find(|(_, line)| line.marker == Marker::CertAuthority)
    {
        Some((path, line)) => Verdict::CertAuthority(Place::new(path, line.number)),
        None => Verdict::Unknown,
    }
}

/// Plain host key algorithms, in OpenSSH's default order. No certificate
/// algorithms: libssh2 cannot verify a host certificate, and a server asked
/// for one presents the certificate instead of its key.
const ALGORITHMS: [(&str, &str); 6] = [
    ("ssh-ed25519", "ssh-ed25519"),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
    ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
    ("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "ssh-rsa"),
    ("rsa-sha2-256", "ssh-rsa"),
];

/// The host key algorithms to offer, as ssh orders them: those whose keys
/// known_hosts holds for this host first, so a server with several keys
/// presents the one that is known.
pub fn host_key_algorithms(files: &[KnownHostsFile], name: &str) -> String {
    let known: Vec<String> = files
        .iter()
        .flat_map(|file| lines(&file.text))
        .filter(|line| line.marker == Marker::None && names(line.hosts, name))
        .map(|line| line.key.kind)
        .collect();
    let (first, rest): (Vec<_>, Vec<_>) = ALGORITHMS
        .iter()
        .partition(|(_, kind)| known.iter().any(|known| known == kind));
    first
        .iter()
        .chain(&rest)
        .map(|(algorithm, _)| *algorithm)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = include_str!("../../tests/fixtures/known_hosts/plain");
    /// PLAIN after `ssh-keygen -H`.
    const HASHED: &str = include_str!("../../tests/fixtures/known_hosts/hashed");

    fn key(kind: &str) -> HostKey {
        let text = match kind {
            "ed25519" => include_str!("../../tests/fixtures/known_hosts/key_ed25519.pub"),
            "ecdsa" => include_str!("../../tests/fixtures/known_hosts/key_ecdsa.pub"),
            "rsa" => include_str!("../../tests/fixtures/known_hosts/key_rsa.pub"),
            _ => unreachable!(),
        };
        let base64 = text.split_whitespace().nth(1).unwrap();
        HostKey::from_blob(&STANDARD.decode(base64).unwrap()).unwrap()
    }

    fn files(texts: &[&str]) -> Vec<KnownHostsFile> {
        texts
            .iter()
            .enumerate()
            .map(|(index, text)| KnownHostsFile {
                path: PathBuf::from(format!("file{}", index + 1)),
                text: (*text).to_owned(),
            })
            .collect()
    }

    fn place(file: usize, line: usize) -> Place {
        Place {
            file: PathBuf::from(format!("file{file}")),
            line,
        }
    }

    #[test]
    fn names_are_spelled_as_in_known_hosts() {
        assert_eq!(host_name("db1.example.com", 22), "db1.example.com");
        assert_eq!(host_name("DB1.Example.com", 22), "db1.example.com");
        assert_eq!(host_name("10.0.0.13", 2222), "[10.0.0.13]:2222");
        assert_eq!(host_name("::1", 22), "::1");
        assert_eq!(host_name("::1", 2222), "[::1]:2222");
    }

    #[test]
    fn keys_carry_their_type_and_fingerprint_as_ssh_keygen_prints_them() {
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let expected = match kind {
                "ed25519" => {
                    include_str!("../../tests/fixtures/known_hosts/key_ed25519.fingerprint")
                }
                "ecdsa" => include_str!("../../tests/fixtures/known_hosts/key_ecdsa.fingerprint"),
                _ => include_str!("../../tests/fixtures/known_hosts/key_rsa.fingerprint"),
            };
            assert_eq!(key(kind).fingerprint(), expected.trim());
        }
        assert_eq!(key("ed25519").kind(), "ssh-ed25519");
        assert_eq!(key("ecdsa").kind(), "ecdsa-sha2-nistp256");
        assert_eq!(key("rsa").kind(), "ssh-rsa");
        assert!(!key("rsa").is_certificate());
        assert_eq!(HostKey::from_blob(b"\0\0"), None);
        assert_eq!(HostKey::from_blob(b"\0\0\0\x09ssh-"), None);
    }

    #[test]
    fn a_written_line_is_the_fixture_line() {
        let written: String = [
            plain_line(&host_name("db1.example.com", 22), &key("ed25519")),
            plain_line(&host_name("db2.example.com", 2222), &key("ecdsa")),
            plain_line(&host_name("10.0.0.13", 22), &key("rsa")),
            plain_line(&host_name("10.0.0.13", 22022), &key("ed25519")),
        ]
        .concat();
        assert_eq!(written, PLAIN);
    }

    #[test]
    fn hashed_names_are_those_ssh_keygen_makes() {
        let spelled = [
            "db1.example.com",
            "[db2.example.com]:2222",
            "10.0.0.13",
            "[10.0.0.13]:22022",
        ];
        for ((hashed, plain), name) in HASHED.lines().zip(PLAIN.lines()).zip(spelled) {
            let (hosts, key_text) = hashed.split_once(' ').unwrap();
            let salt = STANDARD
                .decode(
                    hosts
                        .strip_prefix("|1|")
                        .unwrap()
                        .split('|')
                        .next()
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(salt.len(), 20);
            assert_eq!(key_text, plain.split_once(' ').unwrap().1);
            assert_eq!(hashed_name(name, &salt), hosts);
            assert!(names(hosts, name));
            assert!(!names(hosts, "db9.example.com"));
        }
    }

    /// With ssh-keygen's salts, the lines written hashed are its lines.
    #[test]
    fn a_hashed_line_is_the_line_ssh_keygen_hashes() {
        let names = [
            host_name("db1.example.com", 22),
            host_name("db2.example.com", 2222),
            host_name("10.0.0.13", 22),
            host_name("10.0.0.13", 22022),
        ];
        let keys = [key("ed25519"), key("ecdsa"), key("rsa"), key("ed25519")];
        for ((fixture, name), key) in HASHED.lines().zip(names).zip(keys) {
            let salt = fixture
                .strip_prefix("|1|")
                .unwrap()
                .split('|')
                .next()
                .unwrap();
            let salt: [u8; 20] = STANDARD.decode(salt).unwrap().try_into().unwrap();
            assert_eq!(hashed_line(&name, &key, &salt), format!("{fixture}\n"));
        }
    }

    #[test]
    fn plain_and_hashed_files_give_the_same_verdicts() {
        for text in [PLAIN, HASHED] {
            let files = files(&[text]);
            let check = |host, port, kind| check(&files, &host_name(host, port), &key(kind));
            assert_eq!(check("db1.example.com", 22, "ed25519"), Verdict::Known);
            assert_eq!(check("DB1.example.com", 22, "ed25519"), Verdict::Known);
            assert_eq!(check("db2.example.com", 2222, "ecdsa"), Verdict::Known);
            assert_eq!(check("10.0.0.13", 22, "rsa"), Verdict::Known);
            assert_eq!(check("10.0.0.13", 22022, "ed25519"), Verdict::Known);
            // The port is part of the name: no fallback to the plain host, as ssh.
            assert_eq!(check("db2.example.com", 22, "ecdsa"), Verdict::Unknown);
            assert_eq!(check("db1.example.com", 2222, "ed25519"), Verdict::Unknown);
            assert_eq!(check("db9.example.com", 22, "ed25519"), Verdict::Unknown);
            assert_eq!(
                check("db1.example.com", 22, "rsa"),
                Verdict::Changed(place(1, 1))
            );
            assert_eq!(
                check("10.0.0.13", 22, "ecdsa"),
                Verdict::Changed(place(1, 3))
            );
        }
    }

    #[test]
    fn patterns_negations_and_both_files_count() {
        let ed25519 = key("ed25519").text();
        let rsa = key("rsa").text();
        let user = format!(
            "# comment\n\n*.example.com,!db9.example.com {ed25519}\n[10.0.0.*]:2222 {rsa}\n"
        );
        let global = format!("db9.example.com {rsa}\n");
        let files = files(&[&user, &global]);
        let check = |name: &str, kind| check(&files, name, &key(kind));
        assert_eq!(check("db1.example.com", "ed25519"), Verdict::Known);
        assert_eq!(check("db9.example.com", "rsa"), Verdict::Known);
        assert_eq!(
            check("db9.example.com", "ed25519"),
            Verdict::Changed(place(2, 1))
        );
        assert_eq!(check("[10.0.0.7]:2222", "rsa"), Verdict::Known);
        assert_eq!(check("10.0.0.7", "rsa"), Verdict::Unknown);
    }

    #[test]
    fn lines_ssh_cannot_read_are_skipped() {
        let ed25519 = STANDARD.encode(&key("ed25519").blob);
        let text = format!(
            "db1 unknown {ed25519}\ndb1 ssh-rsa {ed25519}\ndb1 ssh-ed25519 not-base64\n@future db1 ssh-ed25519 {ed25519}\ndb1\n"
        );
        let files = files(&[&text]);
        assert_eq!(check(&files, "db1", &key("ed25519")), Verdict::Unknown);
    }

    #[test]
    fn markers_revoke_and_vouch() {
        let ed25519 = key("ed25519").text();
        let ca = key("ecdsa").text();
        let text = format!(
            "@cert-authority *.example.com,!db9.example.com {ca}\n@revoked nowhere {ed25519}\n"
        );
        let markers = files(&[&text]);
        // A revoked key is refused for every host, even one that trusts it.
        let trusting = format!("db1.example.com {ed25519}\n{text}");
        assert_eq!(
            check(&files(&[&trusting]), "db1.example.com", &key("ed25519")),
            Verdict::Revoked(place(1, 3))
        );
        assert_eq!(
            check(&markers, "db1.example.com", &key("rsa")),
            Verdict::CertAuthority(place(1, 1))
        );
        assert_eq!(
            check(&markers, "db9.example.com", &key("rsa")),
            Verdict::Unknown
        );
        assert_eq!(
            check(&markers, "[db1.example.com]:2222", &key("rsa")),
            Verdict::Unknown
        );
        // A @cert-authority line is no key of the host: a key line beside it decides.
        let with_key = format!("{text}db1.example.com {}\n", key("rsa").text());
        assert_eq!(
            check(&files(&[&with_key]), "db1.example.com", &key("ed25519")),
            Verdict::Revoked(place(1, 2))
        );
        assert_eq!(
            check(&files(&[&with_key]), "db1.example.com", &key("ecdsa")),
            Verdict::Changed(place(1, 3))
        );
    }

    #[test]
    fn known_key_types_are_asked_for_first() {
        let defaults = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256";
        let files = files(&[PLAIN]);
        assert_eq!(host_key_algorithms(&files, "db1.example.com"), defaults);
        assert_eq!(host_key_algorithms(&files, "db9.example.com"), defaults);
        assert_eq!(
            host_key_algorithms(&files, "[db2.example.com]:2222"),
            "ecdsa-sha2-nistp256,ssh-ed25519,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"
        );
        assert_eq!(
            host_key_algorithms(&files, "10.0.0.13"),
            "rsa-sha2-512,rsa-sha2-256,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521"
        );
        assert!(!defaults.contains("cert"));
    }
}
