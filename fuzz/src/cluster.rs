//! Cluster files from fuzzed pieces, read by mirrorset's own reader and
//! validator, and the properties of everything `desired` renders from the
//! result: PostgreSQL and mirrorset read mirrorset.conf back as the
//! settings; libpq reads primary_conninfo back as the intended pairs;
//! pg_hba reads each line as the intended role and address, never a
//! keyword; libpq finds the passphrase in the passfile. In: pieces of a
//! cluster. Out: a `Cluster` or a refusal; the checks panic on a broken
//! property. Pure, except `passphrase` (sets an environment variable).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;

use mirrorset::desired::{self, DesiredNode};
use mirrorset::model::{Cluster, Node, ReplicationTransport, Secret, SettingValue};

use crate::libpq;
use crate::postgres::{self, HbaToken};

/// One node of a generated cluster file; None leaves a key out.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub host: String,
    pub port: Option<i64>,
    pub data_dir: Option<String>,
    pub passfile: Option<String>,
    pub settings: Vec<(String, SettingValue)>,
}

impl NodeSpec {
    pub fn new(name: &str, host: &str) -> Self {
        Self {
            name: name.into(),
            host: host.into(),
            port: None,
            data_dir: None,
            passfile: None,
            settings: Vec::new(),
        }
    }
}

/// A generated cluster file: the first node is the primary.
#[derive(Debug, Clone)]
pub struct Spec {
    pub user: String,
    pub settings: Vec<(String, SettingValue)>,
    pub nodes: Vec<NodeSpec>,
}

impl Default for Spec {
    /// The examples' minimal cluster: a primary and one mirror.
    fn default() -> Self {
        Self {
            user: "replicator".into(),
            settings: Vec::new(),
            nodes: vec![
                NodeSpec::new("db1", "10.0.0.11"),
                NodeSpec::new("db2", "10.0.0.12"),
            ],
        }
    }
}

pub const PASSPHRASE_ENV: &str = "MIRRORSET_FUZZ_PASSPHRASE";

/// A TOML basic string holding exactly `text`.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push('\t'),
            c if c.is_control() => write!(out, "\\u{:04X}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn toml_value(value: &SettingValue) -> String {
    match value {
        SettingValue::Bool(b) => b.to_string(),
        SettingValue::Integer(n) => n.to_string(),
        SettingValue::Float(x) if x.is_nan() => "nan".into(),
        SettingValue::Float(x) if x.is_infinite() => if *x > 0.0 { "inf" } else { "-inf" }.into(),
        SettingValue::Float(x) => format!("{x:?}"),
        SettingValue::String(s) => toml_string(s),
    }
}

impl Spec {
    pub fn toml(&self) -> String {
        let mut out = String::new();
        let primary = self.nodes.first().map_or("", |n| n.name.as_str());
        writeln!(
            out,
            "[cluster]\nname = \"fuzz\"\nprimary = {}\n",
            toml_string(primary)
        )
        .unwrap();
        writeln!(
            out,
            "[replication]\nuser = {}\npassphrase = {{ env = \"{PASSPHRASE_ENV}\" }}\nmax_slot_wal_keep_size = \"1GB\"\n",
            toml_string(&self.user)
        )
        .unwrap();
        if !self.settings.is_empty() {
            out.push_str("[settings]\n");
            for (name, value) in &self.settings {
                writeln!(out, "{} = {}", toml_string(name), toml_value(value)).unwrap();
            }
            out.push('\n');
        }
        for node in &self.nodes {
            writeln!(
                out,
                "[nodes.{}]\nhost = {}",
                toml_string(&node.name),
                toml_string(&node.host)
            )
            .unwrap();
            let mut postgres = Vec::new();
            if let Some(port) = node.port {
                postgres.push(format!("port = {port}"));
            }
            if let Some(dir) = &node.data_dir {
                postgres.push(format!("data_dir = {}", toml_string(dir)));
            }
            if let Some(file) = &node.passfile {
                postgres.push(format!("passfile = {}", toml_string(file)));
            }
            if !postgres.is_empty() {
                writeln!(out, "postgres = {{ {} }}", postgres.join(", ")).unwrap();
            }
            if !node.settings.is_empty() {
                let settings: Vec<String> = node
                    .settings
                    .iter()
                    .map(|(name, value)| format!("{} = {}", toml_string(name), toml_value(value)))
                    .collect();
                writeln!(out, "settings = {{ {} }}", settings.join(", ")).unwrap();
            }
            out.push('\n');
        }
        out
    }

    /// The cluster mirrorset makes of the file, or None when it refuses it.
    pub fn cluster(&self) -> Option<Cluster> {
        parse(&self.toml())
    }
}

/// Reads `text` as a cluster file; None when mirrorset refuses it. The
/// folder does not exist, so no local file it names is found.
pub fn parse(text: &str) -> Option<Cluster> {
    mirrorset::config::parse(
        Path::new("/nonexistent/mirrorset-fuzz/cluster.toml"),
        text.to_owned(),
    )
    .ok()
}

/// The passphrase as mirrorset reads it from the environment variable the
/// generated file names: None when mirrorset refuses it. The fuzzer runs
/// one input at a time on one thread, so setting the variable is sound.
pub fn passphrase(cluster: &Cluster, value: &str) -> Option<Secret<String>> {
    if value.contains('\0') {
        // No environment variable can hold one; the passfile check below
        // still covers what the renderer does with the rest.
        return None;
    }
    unsafe { std::env::set_var(PASSPHRASE_ENV, value) };
    cluster.replication.passphrase.resolve().ok()
}

/// Every property of what mirrorset renders for `cluster`.
pub fn check(cluster: &Cluster, passphrase: &Secret<String>) {
    let desired = desired::desired(cluster, passphrase, None);
    let primary = cluster.node(&cluster.primary).expect("validated primary");
    for node in &cluster.nodes {
        let wanted = desired.node(&node.name).expect("a desired node per node");
        check_conf(wanted);
        if let Some(value) = wanted.settings.get("primary_conninfo") {
            let SettingValue::String(info) = value else {
                panic!("primary_conninfo is not a string: {value:?}");
            };
            check_conninfo(cluster, node, primary, info, None);
        }
        if node.name != primary.name {
            let rewind = desired::replication_conninfo(cluster, node, primary, Some("postgres"));
            check_conninfo(cluster, node, primary, &rewind, Some("postgres"));
        }
        check_hba(cluster, node, &wanted.hba_lines);
        check_passfile(
            cluster,
            primary,
            wanted.passfile.expose(),
            passphrase.expose(),
        );
    }
}

/// The text a setting's value is, once PostgreSQL has read it.
fn expected_text(value: &SettingValue) -> String {
    match value {
        SettingValue::Bool(true) => "on".into(),
        SettingValue::Bool(false) => "off".into(),
        SettingValue::Integer(n) => n.to_string(),
        SettingValue::Float(x) => x.to_string(),
        SettingValue::String(s) => s.clone(),
    }
}

/// mirrorset.conf: every line is a comment or one setting; PostgreSQL's
/// lexer and mirrorset's own parser both read back exactly the settings.
pub fn check_conf(wanted: &DesiredNode) {
    let text = &wanted.mirrorset_conf;
    assert!(
        text.ends_with('\n'),
        "mirrorset.conf does not end a line: {text:?}"
    );
    let mut read = BTreeMap::new();
    let mut count = 0;
    for line in text.split_terminator('\n') {
        match postgres::guc_line(line.as_bytes()) {
            None => {}
            Some(Err(())) => panic!("PostgreSQL cannot read the line {line:?} of mirrorset.conf"),
            Some(Ok((name, value))) => {
                count += 1;
                let name = String::from_utf8(name).expect("UTF-8 name");
                let value = String::from_utf8(value)
                    .unwrap_or_else(|e| panic!("{name} reads back as bytes {:?}", e.as_bytes()));
                read.insert(name, value);
            }
        }
    }
    let expected: BTreeMap<String, String> = wanted
        .settings
        .iter()
        .map(|(name, value)| (name.clone(), expected_text(value)))
        .collect();
    assert_eq!(count, expected.len(), "one line per setting in {text:?}");
    assert_eq!(
        read, expected,
        "PostgreSQL reads mirrorset.conf back differently:\n{text}"
    );
    for (name, value) in &wanted.settings {
        if let SettingValue::Float(x) = value {
            let back: f64 = read[name].parse().expect("a float reads back as a number");
            assert!(back == *x, "{name} = {x} reads back as {back}");
        }
    }
    let own = mirrorset::facts::parse::conf_settings(text);
    assert_eq!(
        own, expected,
        "mirrorset reads its own mirrorset.conf back differently:\n{text}"
    );
}

/// A connection string: libpq reads it as the intended pairs.
pub fn check_conninfo(
    cluster: &Cluster,
    node: &Node,
    upstream: &Node,
    info: &str,
    database: Option<&str>,
) {
    let pairs = libpq::conninfo(info).unwrap_or_else(|e| panic!("libpq refuses {info:?}: {e}"));
    let read: BTreeMap<&str, &[u8]> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    assert_eq!(read.len(), pairs.len(), "a key twice in {info:?}");
    let port = upstream.postgres.port.to_string();
    let mut expected: BTreeMap<&str, &[u8]> = BTreeMap::from([
        ("host", upstream.host.as_bytes()),
        ("port", port.as_bytes()),
        ("user", cluster.replication.user.as_str().as_bytes()),
        ("passfile", node.postgres.passfile.as_bytes()),
    ]);
    match database {
        Some(database) => {
            expected.insert("dbname", database.as_bytes());
            expected.insert("application_name", b"mirrorset-rewind");
        }
        None => {
            expected.insert("application_name", node.name.as_str().as_bytes());
        }
    }
    for (key, value) in &expected {
        assert_eq!(
            read.get(key),
            Some(value),
            "libpq reads {key} from {info:?} differently"
        );
    }
    let sslmode = read.get("sslmode").copied().unwrap_or_default();
    match cluster.replication.transport {
        ReplicationTransport::Plain => assert_eq!(sslmode, b"prefer", "{info:?}"),
        ReplicationTransport::Tls => assert_eq!(sslmode, b"verify-full", "{info:?}"),
    }
}

fn single<'a>(field: &'a [HbaToken], line: &str) -> &'a HbaToken {
    assert_eq!(field.len(), 1, "a comma list in {line:?}");
    &field[0]
}

/// What pg_hba's address field designates, as parse_hba_line reads it.
#[derive(Debug, PartialEq)]
enum Address {
    Keyword(String),
    Network(IpAddr, u8),
    /// An address without a mask: the next field would be read as one.
    BareIp,
    Hostname(String),
}

fn address(token: &HbaToken) -> Address {
    let text = String::from_utf8_lossy(&token.text).into_owned();
    if !token.quoted && matches!(text.as_str(), "all" | "samehost" | "samenet") {
        return Address::Keyword(text);
    }
    let numeric = |text: &str| -> Option<IpAddr> {
        text.parse::<IpAddr>()
            .ok()
            .or_else(|| postgres::numeric_ipv4(text).map(IpAddr::V4))
    };
    if let Some((ip, bits)) = text.split_once('/') {
        let ip = numeric(ip).unwrap_or_else(|| panic!("pg_hba cannot read the address {text:?}"));
        let bits: u8 = bits
            .parse()
            .unwrap_or_else(|_| panic!("pg_hba cannot read the mask of {text:?}"));
        return Address::Network(ip, bits);
    }
    if numeric(&text).is_some() {
        return Address::BareIp;
    }
    Address::Hostname(text)
}

/// The pg_hba lines: each allows exactly the replication role from exactly
/// one other member's address (or rejects the role from anywhere without
/// TLS); every other member is allowed for replication and for pg_rewind.
pub fn check_hba(cluster: &Cluster, node: &Node, lines: &[String]) {
    let user = cluster.replication.user.as_str();
    let mut allowed: Vec<(Vec<u8>, Address)> = Vec::new();
    for line in lines {
        assert!(
            !line.contains(['\n', '\r', '\0']),
            "a line break in the pg_hba line {line:?}"
        );
        let fields = postgres::hba_fields(line.as_bytes());
        assert_eq!(fields.len(), 5, "pg_hba reads {line:?} as {fields:?}");
        let kind = single(&fields[0], line);
        let database = single(&fields[1], line);
        let role = single(&fields[2], line);
        let address = address(single(&fields[3], line));
        let method = single(&fields[4], line);
        assert!(!kind.quoted && !method.quoted, "{line:?}");
        assert_eq!(
            role.text,
            user.as_bytes(),
            "pg_hba reads another role from {line:?}"
        );
        let role_is_literal = role.quoted
            || !(role.text == b"all" || role.text.starts_with(b"+") || role.text.starts_with(b"@"));
        assert!(
            role_is_literal,
            "pg_hba reads the role in {line:?} as a keyword, group or file"
        );
        assert!(
            database.text == b"replication" && !database.quoted || database.text == b"postgres",
            "{line:?}"
        );
        let tls = cluster.replication.transport == ReplicationTransport::Tls;
        if method.text == b"reject" {
            assert!(tls && kind.text == b"hostnossl", "{line:?}");
            assert_eq!(address, Address::Keyword("all".into()), "{line:?}");
            continue;
        }
        assert_eq!(method.text, b"scram-sha-256", "{line:?}");
        assert_eq!(
            kind.text,
            if tls { b"hostssl".as_slice() } else { b"host" },
            "{line:?}"
        );
        allowed.push((database.text.clone(), address));
    }
    for other in cluster.members().filter(|m| m.name != node.name) {
        let designates = |address: &Address| match (address, other.host.parse::<IpAddr>()) {
            (Address::Network(ip, bits), Ok(host)) => {
                *ip == host && u32::from(*bits) == if host.is_ipv4() { 32 } else { 128 }
            }
            (Address::Hostname(name), Err(_)) => *name == other.host,
            _ => false,
        };
        for database in [b"replication".as_slice(), b"postgres"] {
            assert!(
                allowed
                    .iter()
                    .any(|(db, address)| db == database && designates(address)),
                "no pg_hba line lets {} in for {}: {lines:?}",
                other.host,
                String::from_utf8_lossy(database)
            );
        }
    }
    for (_, address) in &allowed {
        assert!(
            !matches!(address, Address::Keyword(_) | Address::BareIp),
            "pg_hba reads an allowed address as {address:?}: {lines:?}"
        );
    }
    // The block in an empty file reads back as these lines.
    let file = desired::with_block("", lines).expect("an empty file has no broken block");
    assert_eq!(desired::block_contents(&file).as_deref(), Some(lines));
}

/// The passfile: libpq finds the passphrase for the replication and the
/// pg_rewind connection to the primary.
pub fn check_passfile(cluster: &Cluster, primary: &Node, passfile: &str, passphrase: &str) {
    assert!(passfile.ends_with('\n'), "{passfile:?}");
    let user = cluster.replication.user.as_str();
    let port = primary.postgres.port.to_string();
    for database in ["replication", "postgres"] {
        let found = libpq::passfile_password(passfile, &primary.host, &port, database, user);
        assert_eq!(
            found.as_deref(),
            Some(passphrase.as_bytes()),
            "libpq reads another password from the passfile"
        );
    }
}
