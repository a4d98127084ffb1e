//! Reads a parsed TOML document into the `ClusterFile` shape, reporting every
//! unknown key and wrong type with its span instead of stopping at the first.
//! Input: a toml_edit document with spans. Output: `ClusterFile` + problems. Pure.

use std::ops::Range;

use toml_edit::{Item, TableLike, Value};

use super::file::{
    ClusterFile, ClusterSection, HooksSection, NodeDefaults, NodeSection, NodeTlsSection,
    PassphraseRef, PostgresSection, ReplicationSection, ReplicationTlsSection, RoleFileContent,
    RoleFileSection, ServiceCommands, ServiceSpec, SettingEntry, SshSection, SyncSection,
    TransportName,
};
use super::{Problem, Rule, Spanned};
use crate::model::SettingValue;

/// Where a value sits: its dotted path for messages and its span for labels.
#[derive(Debug, Clone)]
pub struct Location {
    pub path: String,
    pub span: Range<usize>,
}

impl Location {
    fn child(&self, key: &str, span: Option<Range<usize>>) -> Self {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Self {
            path,
            span: span.unwrap_or_else(|| self.span.clone()),
        }
    }
}

/// Something that can be read from one TOML item.
pub trait FromToml: Sized {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self>;
}

pub fn read_document(
    document: &toml_edit::Document<&str>,
    problems: &mut Vec<Problem>,
) -> ClusterFile {
    let root = Location {
        path: String::new(),
        span: 0..0,
    };
    let mut table = TableReader::new(document.as_table(), root, problems);
    let file = ClusterFile {
        cluster: table.required("cluster"),
        replication: table.required("replication"),
        settings: table.optional("settings"),
        defaults: table.optional("defaults"),
        nodes: table.required("nodes"),
        files: table.optional("files"),
        sync: table.optional("sync"),
        hooks: table.optional("hooks"),
    };
    table.finish();
    file
}

fn article_and_type(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date-time",
        Item::Value(Value::Array(_)) => "an array",
        Item::Value(Value::InlineTable(_)) | Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn wrong_type(item: &Item, at: &Location, expected: &str) -> Problem {
    let found = article_and_type(item);
    Problem::new(
        Rule::WrongType,
        format!("`{}` must be {expected}, not {found}", at.path),
    )
    .at(at.span.clone(), format!("{found}, expected {expected}"))
}

/// Reads the keys of one table, remembering which were asked for, so that
/// `finish` can report the rest as unknown with the closest known key.
pub struct TableReader<'d, 'p> {
    table: &'d dyn TableLike,
    at: Location,
    problems: &'p mut Vec<Problem>,
    asked: Vec<&'static str>,
}

impl<'d, 'p> TableReader<'d, 'p> {
    fn new(table: &'d dyn TableLike, at: Location, problems: &'p mut Vec<Problem>) -> Self {
        Self {
            table,
            at,
            problems,
            asked: Vec::new(),
        }
    }

    /// Opens `item` as a table, or reports a wrong type.
    fn open(item: &'d Item, at: &Location, problems: &'p mut Vec<Problem>) -> Option<Self> {
        match item.as_table_like() {
            Some(table) => Some(Self::new(table, at.clone(), problems)),
            None => {
                problems.push(wrong_type(item, at, "a table"));
                None
            }
        }
    }

    fn location_of(&self, key: &str) -> Option<(Location, &'d Item)> {
        let (key_repr, item) = self.table.get_key_value(key)?;
        let span = item.span().or_else(|| key_repr.span());
        Some((self.at.child(key, span), item))
    }

    pub fn optional<T: FromToml>(&mut self, key: &'static str) -> Option<Spanned<T>> {
        self.asked.push(key);
        let (at, item) = self.location_of(key)?;
        T::from_toml(item, &at, self.problems).map(|value| Spanned::new(value, at.span))
    }

    pub fn required<T: FromToml>(&mut self, key: &'static str) -> Option<Spanned<T>> {
        if self.table.get(key).is_none() {
            let (message, label) = if self.at.path.is_empty() {
                (
                    format!("the file has no [{key}] table"),
                    format!("[{key}] is required"),
                )
            } else {
                (
                    format!("`{}` has no `{key}`", self.at.path),
                    format!("`{key}` is required here"),
                )
            };
            self.problems
                .push(Problem::new(Rule::MissingKey, message).at(self.at.span.clone(), label));
        }
        self.optional(key)
    }

    /// Reports `key`, if present, with its own rule instead of as unknown.
    pub fn refuse(&mut self, key: &'static str, refusal: impl FnOnce(&Location) -> Problem) {
        self.asked.push(key);
        if let Some((at, _)) = self.location_of(key) {
            let problem = refusal(&at);
            self.problems.push(problem);
        }
    }

    /// Every entry, for tables whose keys are names the user chooses.
    fn entries(&mut self) -> Vec<(Spanned<String>, Location, &'d Item)> {
        let table = self.table;
        table
            .iter()
            .map(|(key, item)| {
                let key_span = table
                    .get_key_value(key)
                    .and_then(|(repr, _)| repr.span())
                    .unwrap_or_else(|| self.at.span.clone());
                let at = self.at.child(key, item.span().or(Some(key_span.clone())));
                (Spanned::new(key.to_owned(), key_span), at, item)
            })
            .collect()
    }

    /// Reports every key that was never asked for.
    pub fn finish(self) {
        for (key, item) in self.table.iter() {
            if self.asked.contains(&key) {
                continue;
            }
            let span = self
                .table
                .get_key_value(key)
                .and_then(|(repr, _)| repr.span())
                .or_else(|| item.span())
                .unwrap_or_else(|| self.at.span.clone());
            let place = if self.at.path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `{}`", self.at.path)
            };
            let closest = self
                .asked
                .iter()
                .map(|known| (strsim::jaro_winkler(key, known), *known))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let known = self
                .asked
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let help = match closest {
                Some((_, known)) => format!("did you mean `{known}`?"),
                None => format!("the keys allowed here are {known}"),
            };
            self.problems.push(
                Problem::new(Rule::UnknownKey, format!("unknown key `{key}` {place}"))
                    .at(span, "not a key mirrorset knows")
                    .help(help),
            );
        }
    }
}

impl FromToml for String {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        match item.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                problems.push(wrong_type(item, at, "a string"));
                None
            }
        }
    }
}

impl FromToml for bool {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        match item.as_bool() {
            Some(value) => Some(value),
            None => {
                problems.push(wrong_type(item, at, "true or false"));
                None
            }
        }
    }
}

impl FromToml for i64 {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        match item.as_integer() {
            Some(number) => Some(number),
            None => {
                problems.push(wrong_type(item, at, "an integer"));
                None
            }
        }
    }
}

impl FromToml for Vec<String> {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        let Some(array) = item.as_array() else {
            problems.push(wrong_type(item, at, "an array of strings"));
            return None;
        };
        let mut strings = Vec::with_capacity(array.len());
        for value in array.iter() {
            match value.as_str() {
                Some(text) => strings.push(text.to_owned()),
                None => {
                    let element_at = Location {
                        path: format!("{}[{}]", at.path, strings.len()),
                        span: value.span().unwrap_or_else(|| at.span.clone()),
                    };
                    problems.push(wrong_type(
                        &Item::Value(value.clone()),
                        &element_at,
                        "a string",
                    ));
                    return None;
                }
            }
        }
        Some(strings)
    }
}

impl FromToml for SettingValue {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        match item {
            Item::Value(Value::Boolean(b)) => Some(Self::Bool(*b.value())),
            Item::Value(Value::Integer(n)) => Some(Self::Integer(*n.value())),
            Item::Value(Value::Float(x)) => Some(Self::Float(*x.value())),
            Item::Value(Value::String(s)) => Some(Self::String(s.value().clone())),
            _ => {
                let found = article_and_type(item);
                problems.push(
                    Problem::new(
                        Rule::InvalidSettingValue,
                        format!("setting `{}` must be a string, number or boolean, not {found}", at.path),
                    )
                    .at(at.span.clone(), found)
                    .help("PostgreSQL settings are single values; write a list as one string, e.g. 'a,b'"),
                );
                None
            }
        }
    }
}

impl FromToml for Vec<SettingEntry> {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        let mut table = TableReader::open(item, at, problems)?;
        let mut entries = Vec::new();
        for (name, value_at, value) in table.entries() {
            if let Some(setting) = SettingValue::from_toml(value, &value_at, table.problems) {
                entries.push((name, Spanned::new(setting, value_at.span)));
            }
        }
        Some(entries)
    }
}

impl FromToml for Vec<(Spanned<String>, Spanned<NodeSection>)> {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        let mut table = TableReader::open(item, at, problems)?;
        let mut nodes = Vec::new();
        for (name, node_at, node) in table.entries() {
            if let Some(section) = NodeSection::from_toml(node, &node_at, table.problems) {
                nodes.push((name, Spanned::new(section, node_at.span)));
            }
        }
        Some(nodes)
    }
}

/// Implements `FromToml` for a section struct: open the table, read each
/// field with the given method, then report unknown keys.
macro_rules! section {
    ($type:ty { $($field:ident: $method:ident),* $(,)? } $(refuse $refused:literal => $refusal:expr)*) => {
        impl FromToml for $type {
            fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
                let mut table = TableReader::open(item, at, problems)?;
                let section = Self { $($field: table.$method(stringify!($field))),* };
                $(table.refuse($refused, $refusal);)*
                table.finish();
                Some(section)
            }
        }
    };
}

fn transport_not_here(at: &Location) -> Problem {
    Problem::new(
        Rule::TransportNotClusterWide,
        format!(
            "`{}` cannot be set here: the transport is one value for the whole cluster",
            at.path
        ),
    )
    .at(at.span.clone(), "only allowed in [replication]")
    .help("set `transport` once, in [replication]")
}

section!(ClusterSection {
    name: required,
    primary: required
});
section!(ReplicationSection {
    user: required,
    passphrase: required,
    transport: optional,
    connection_limit: optional,
    max_slot_wal_keep_size: required,
    tls: optional,
});
section!(ReplicationTlsSection {
    ca: required,
    expiry_warning_days: optional
});
section!(NodeDefaults { access: optional, ssh: optional, postgres: optional } refuse "transport" => transport_not_here);
section!(SshSection {
    user: optional,
    port: optional,
    key: optional,
    known_hosts: optional,
    config: optional
});
section!(PostgresSection {
    data_dir: optional,
    config_dir: optional,
    bin_dir: optional,
    port: optional,
    socket_dir: optional,
    service: optional,
    state_dir: optional,
    passfile: optional,
    log_file: optional,
    os_user: optional,
});
section!(ServiceCommands {
    start: required,
    stop: required,
    restart: optional,
    reload: optional
});
section!(NodeSection {
    host: required,
    ssh_host: optional,
    slot: optional,
    state: optional,
    tls: optional,
    settings: optional,
    access: optional,
    ssh: optional,
    postgres: optional,
} refuse "transport" => transport_not_here);
section!(RoleFileSection {
    path: required,
    format: optional,
    primary: optional,
    mirror: optional,
    standalone: optional,
});
section!(SyncSection {
    path: required,
    mode: optional,
    owner: optional,
    delete: optional,
    sensitive: optional,
});
section!(HooksSection {
    before_role_change: optional,
    after_role_change: optional,
    fence: optional,
});
section!(RoleFileContent {
    content: optional,
    set: optional,
    unset: optional,
});

/// `[[files]]` and `[[sync]]`: an array of tables (or of inline tables), each with its span.
impl<T: FromToml> FromToml for Vec<Spanned<T>> {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        let tables: Vec<(Item, Option<Range<usize>>)> = match item {
            Item::ArrayOfTables(array) => array
                .iter()
                .map(|table| (Item::Table(table.clone()), table.span()))
                .collect(),
            Item::Value(Value::Array(array)) => array
                .iter()
                .map(|value| (Item::Value(value.clone()), value.span()))
                .collect(),
            _ => {
                problems.push(wrong_type(item, at, "an array of tables"));
                return None;
            }
        };
        let mut files = Vec::new();
        for (index, (table, span)) in tables.iter().enumerate() {
            let entry_at = Location {
                path: format!("{}[{index}]", at.path),
                span: span.clone().unwrap_or_else(|| at.span.clone()),
            };
            if let Some(section) = T::from_toml(table, &entry_at, problems) {
                files.push(Spanned::new(section, entry_at.span));
            }
        }
        Some(files)
    }
}

/// `set = { key = "value" }`: string values, each with its span.
impl FromToml for Vec<(Spanned<String>, Spanned<String>)> {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        let mut table = TableReader::open(item, at, problems)?;
        let mut entries = Vec::new();
        for (key, value_at, value) in table.entries() {
            if let Some(text) = String::from_toml(value, &value_at, table.problems) {
                entries.push((key, Spanned::new(text, value_at.span)));
            }
        }
        Some(entries)
    }
}

section!(NodeTlsSection {
    cert: required,
    key: required
});

impl FromToml for TransportName {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        String::from_toml(item, at, problems).map(TransportName)
    }
}

impl FromToml for ServiceSpec {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        if item.is_str() {
            return String::from_toml(item, at, problems).map(ServiceSpec::Named);
        }
        if item.is_table_like() {
            return ServiceCommands::from_toml(item, at, problems).map(ServiceSpec::Commands);
        }
        problems.push(
            Problem::new(
                Rule::InvalidService,
                format!("`{}` must be \"pg_ctl\", \"systemd:<unit>\" or a table of commands", at.path),
            )
            .at(at.span.clone(), article_and_type(item))
            .help("e.g. service = \"systemd:postgresql@15-main\", or service = { start = [...], stop = [...] }"),
        );
        None
    }
}

impl FromToml for PassphraseRef {
    fn from_toml(item: &Item, at: &Location, problems: &mut Vec<Problem>) -> Option<Self> {
        if item.is_str() {
            problems.push(
                Problem::new(
                    Rule::LiteralPassphrase,
                    "the replication passphrase is written in the cluster file",
                )
                .at(at.span.clone(), "a secret in a file meant for version control")
                .help(
                    "reference it instead: passphrase = { env = \"REPL_PASSPHRASE\" }, { file = \"path\" } \
                     or { command = [\"pass\", \"show\", \"db/repl\"] }; and change it, since it may already be in git history",
                ),
            );
            return None;
        }
        let mut table = TableReader::open(item, at, problems)?;
        let source = PassphraseRef {
            env: table.optional("env"),
            file: table.optional("file"),
            command: table.optional("command"),
            timeout: table.optional("timeout"),
        };
        table.finish();
        Some(source)
    }
}
