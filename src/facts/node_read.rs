//! The node read: one `sh -c` script, run as the PostgreSQL user on one
//! round trip, made of units. Each unit is the fragment that prints its
//! `key=value` lines paired with the parser of those lines (pyinfra's fact:
//! a command and its parser), so each parser is tested from text without a
//! host. In: the node's layout and the paths `desired` lists; out: the
//! file-system half of `Reached`. The script is data here; gather runs it.

use std::collections::BTreeMap;

use base64::Engine;

use super::observed::{DataDir, Files, PassfileFacts, Reached, SyncedFile};
use super::parse::{controldata, key_values, postgres_version};
use crate::desired::ReadPaths;
use crate::model::{Node, OWNED_FILE, Owned, PostgresLayout, Secret};

/// What the script printed, by key.
pub type Values = BTreeMap<String, String>;

/// What a parser needs besides the printed lines.
pub struct ReadContext<'a> {
    pub layout: &'a PostgresLayout,
    pub read: &'a ReadPaths,
    /// How many `[[sync]]` entries the node has.
    pub sync_entries: usize,
}

/// One fact of the node read.
pub struct Unit {
    pub name: &'static str,
    /// Lines of POSIX sh; the positional arguments are bound to names by
    /// `HEADER` (values are never spliced into the script).
    pub script: &'static str,
    pub parse: fn(&Values, &ReadContext, &mut Reached),
}

/// Binds the positional arguments (see `arguments`) and defines `file`,
/// which prints a file as `key=<base64>` when it exists. What remains in
/// "$@" is `nread` paths to read, then the `[[sync]]` paths and globs.
const HEADER: &str = r#"bin=$1 data=$2 config=$3 socket=$4 port=$5 passfile=$6 ca=$7 cert=$8 key=$9 log=${10} owned=${11} legacy=${12} nread=${13}
shift 13
file() { if [ -f "$2" ]; then printf '%s=' "$1"; base64 -w0 < "$2"; echo; fi; }
"#;

/// In script order; `READY` comes last, once everything else is read.
pub const UNITS: [Unit; 11] = [
    VERSION,
    DATA_DIR,
    // These two take "$@": the files to read, then what is synced.
    READ_FILES,
    SYNCED,
    STANDBY_SIGNAL,
    PASSFILE,
    OWNED_RECORD,
    LEGACY_FILES,
    TLS_KEY,
    VERDICT,
    READY,
];

/// The whole script, units in order.
pub fn script() -> String {
    UNITS
        .iter()
        .fold(HEADER.to_owned(), |script, unit| script + unit.script)
}

/// The script's positional arguments for `node`: the fixed ones `HEADER`
/// binds, then every path `desired` lists to read.
pub fn arguments(node: &Node, read: &ReadPaths) -> Vec<String> {
    let layout = &node.postgres;
    [
        layout.bin_dir.clone(),
        layout.data_dir.clone(),
        layout.config_dir.clone(),
        layout.socket_dir.clone(),
        layout.port.to_string(),
        layout.passfile.clone(),
        read.tls.ca.clone(),
        read.tls.cert.clone(),
        read.tls.key.clone(),
        layout.log_file.clone(),
        format!("{}/{OWNED_FILE}", layout.state_dir),
        legacy_dir(layout),
        read.all().len().to_string(),
    ]
    .into_iter()
    .chain(read.all().iter().map(|path| path.to_string()))
    .chain(node.sync.iter().map(|entry| entry.path.clone()))
    .collect()
}

/// Every unit's parser over what the script printed.
pub fn parse(output: &str, context: &ReadContext) -> Reached {
    let values = key_values(output);
    let mut reached = Reached::default();
    for unit in &UNITS {
        (unit.parse)(&values, context, &mut reached);
    }
    reached
}

fn decode(text: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn file(values: &Values, key: &str) -> Option<String> {
    values.get(key).and_then(|text| decode(text))
}

/// Where mirrorset kept its files before state folders: beside the data
/// directory. Empty when that is the state folder itself.
fn legacy_dir(layout: &PostgresLayout) -> String {
    let parent = std::path::Path::new(&layout.data_dir)
        .parent()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    if parent.is_empty() || parent == layout.state_dir {
        String::new()
    } else {
        parent
    }
}

const VERSION: Unit = Unit {
    name: "version",
    script: r#"if version=$("$bin/postgres" --version 2>/dev/null); then printf 'version=%s\n' "$version"; fi
"#,
    parse: |values, _, reached| {
        reached.postgres_version = values.get("version").and_then(|v| postgres_version(v));
    },
};

const DATA_DIR: Unit = Unit {
    name: "data_dir",
    script: r#"if [ -e "$data.mirrorset-rewind-failed" ]; then echo rewind_failed=yes; fi
if [ -e "$data.mirrorset-cloning" ]; then echo data=incomplete
elif [ -d "$data" ] && { [ ! -r "$data" ] || [ ! -x "$data" ]; }; then
  echo data=unreadable; printf 'data_stat=%s\n' "$(stat -c '%U %a' -- "$data")"
elif [ -f "$data/PG_VERSION" ]; then
  echo data=initialized
  printf 'controldata='; "$bin/pg_controldata" "$data" 2>/dev/null | base64 -w0; echo
elif [ -n "$(ls -A "$data" 2>/dev/null)" ]; then echo data=foreign
elif [ -d "$data" ]; then echo data=empty
else echo data=missing; fi
"#,
    parse: |values, _, reached| {
        reached.rewind_failed = values.contains_key("rewind_failed");
        reached.data_dir = match values.get("data").map(String::as_str) {
            Some("initialized") => {
                let control = controldata(&file(values, "controldata").unwrap_or_default());
                DataDir::Initialized {
                    system_identifier: control
                        .get("Database system identifier")
                        .cloned()
                        .unwrap_or_default(),
                    cluster_state: control
                        .get("Database cluster state")
                        .cloned()
                        .unwrap_or_default(),
                    checkpoint_timeline: control
                        .get("Latest checkpoint's TimeLineID")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    checkpoint_lsn: control.get("Latest checkpoint location").cloned(),
                    redo_lsn: control.get("Latest checkpoint's REDO location").cloned(),
                    rewindable: control.get("wal_log_hints setting").map(String::as_str)
                        == Some("on")
                        || control
                            .get("Data page checksum version")
                            .is_some_and(|v| v != "0"),
                }
            }
            Some("foreign") => DataDir::Foreign,
            Some("unreadable") => {
                let stat = values.get("data_stat").cloned().unwrap_or_default();
                let (owner, mode) = stat.split_once(' ').unwrap_or((stat.as_str(), ""));
                DataDir::Unreadable {
                    owner: owner.to_owned(),
                    mode: mode.to_owned(),
                }
            }
            Some("incomplete") => DataDir::Incomplete,
            Some("empty") => DataDir::Empty,
            _ => DataDir::Missing,
        };
    },
};

/// The files `desired` lists, as `read<n>` for the n-th.
const READ_FILES: Unit = Unit {
    name: "read_files",
    script: r#"n=0
while [ "$n" -lt "$nread" ]; do file "read$n" "$1"; shift; n=$((n + 1)); done
"#,
    parse: |values, context, reached| {
        reached.files = Files {
            hba_path: Some(context.read.hba.clone()),
            found: context
                .read
                .all()
                .iter()
                .enumerate()
                .filter_map(|(n, path)| {
                    Some((path.to_string(), file(values, &format!("read{n}"))?))
                })
                .collect(),
        };
    },
};

/// `[[sync]]`: each path or glob's files with their checksum, size, mode
/// and owner, as `sync<n>` for the n-th entry; never their content. The
/// glob is expanded by the shell from a variable (no word splitting, no
/// command substitution), never spliced into the script.
const SYNCED: Unit = Unit {
    name: "synced",
    script: r#"n=0
for pattern in "$@"; do
  printf 'sync%s=' "$n"
  ( IFS=; set +f; for f in $pattern; do
      if [ -f "$f" ]; then printf '%s %s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(stat -c '%s %a %U' -- "$f")" "$f"; fi
    done ) | base64 -w0
  echo; n=$((n + 1))
done
"#,
    parse: |values, context, reached| {
        reached.synced = (0..context.sync_entries)
            .map(|n| {
                file(values, &format!("sync{n}"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(parse_synced_line)
                    .collect()
            })
            .collect();
    },
};

/// "sha256 size mode owner path" (the path may hold spaces).
fn parse_synced_line(line: &str) -> Option<SyncedFile> {
    let mut fields = line.splitn(5, ' ');
    let sha256 = fields.next()?.to_owned();
    let size = fields.next()?.parse().ok()?;
    let mode = u32::from_str_radix(fields.next()?, 8).ok()?;
    let owner = fields.next()?.to_owned();
    let path = fields.next()?.to_owned();
    Some(SyncedFile {
        path,
        sha256,
        size,
        mode,
        owner,
    })
}

const STANDBY_SIGNAL: Unit = Unit {
    name: "standby_signal",
    script: r#"if [ -e "$data/standby.signal" ]; then echo standby_signal=yes; fi
"#,
    parse: |values, _, reached| {
        reached.standby_signal = values.contains_key("standby_signal");
    },
};

/// A 0600 file holding a secret: its mode, owner and content.
fn secret_file(values: &Values, stat_key: &str, content_key: &str) -> Option<PassfileFacts> {
    let (mode, owner) = values.get(stat_key)?.split_once(' ')?;
    Some(PassfileFacts {
        mode: u32::from_str_radix(mode, 8).ok()?,
        owner: owner.to_owned(),
        content: Secret::new(file(values, content_key).unwrap_or_default()),
    })
}

const PASSFILE: Unit = Unit {
    name: "passfile",
    script: r#"if [ -f "$passfile" ]; then printf 'passfile_stat=%s\n' "$(stat -c '%a %U' "$passfile")"; file passfile "$passfile"; fi
"#,
    parse: |values, _, reached| {
        reached.passfile = secret_file(values, "passfile_stat", "passfile");
    },
};

const OWNED_RECORD: Unit = Unit {
    name: "owned",
    script: r#"file owned "$owned"
"#,
    parse: |values, _, reached| match file(values, "owned").map(|text| Owned::parse(&text)) {
        Some(Ok(owned)) => reached.owned = Some(owned),
        Some(Err(error)) => reached.owned_error = Some(error),
        None => {}
    },
};

/// Files an earlier mirrorset kept beside the data directory, before state
/// folders; those the cluster file still names are in use, not left over.
const LEGACY_FILES: Unit = Unit {
    name: "legacy_files",
    script: r#"if [ -n "$legacy" ]; then
  found=; for name in mirrorset.pgpass mirrorset-server.key mirrorset-server.crt mirrorset-ca.crt mirrorset-audit.jsonl; do
    if [ -e "$legacy/$name" ]; then found="$found $name"; fi
  done
  if [ -n "$found" ]; then printf 'legacy_files=%s\n' "$found"; fi
fi
"#,
    parse: |values, context, reached| {
        let layout = context.layout;
        let in_use = [&layout.passfile, &layout.log_file];
        reached.legacy_files = values
            .get("legacy_files")
            .map(|names| {
                names
                    .split_whitespace()
                    .map(|name| format!("{}/{name}", legacy_dir(layout)))
                    .filter(|path| !in_use.contains(&path))
                    .collect()
            })
            .unwrap_or_default();
    },
};

const TLS_KEY: Unit = Unit {
    name: "tls_key",
    script: r#"if [ -f "$key" ]; then printf 'key_stat=%s\n' "$(stat -c '%a %U' "$key")"; file tls_key "$key"; fi
for tls in "$ca" "$cert" "$key"; do if [ -f "$tls" ]; then stat -c '%.9Y' "$tls"; fi; done | sort -n | tail -n 1 | sed 's/^/tls_mtime=/'
"#,
    parse: |values, _, reached| {
        reached.tls_key = secret_file(values, "key_stat", "tls_key");
        reached.tls_mtime = values.get("tls_mtime").and_then(|t| t.parse().ok());
    },
};

/// PostgreSQL's own verdict on a data directory: `postgres -C` and the
/// server log's last FATAL/PANIC lines.
const VERDICT: Unit = Unit {
    name: "verdict",
    script: concat!(
        "if [ -f \"$data/PG_VERSION\" ]; then\n",
        super::verdict_lines!(),
        "fi\n"
    ),
    parse: |values, _, reached| {
        reached.log_errors = file(values, "log_errors")
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        reached.config_rejected =
            file(values, "config_rejected").filter(|text| !text.trim().is_empty());
    },
};

const READY: Unit = Unit {
    name: "ready",
    script: r#""$bin/pg_isready" -q -h "$socket" -p "$port" -t 3; echo "ready=$?"
"#,
    parse: |values, _, reached| {
        reached.running = values.get("ready").map(String::as_str) == Some("0");
    },
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn node() -> Node {
        let cluster = crate::config::parse(
            Path::new("t.toml"),
            r#"
[cluster]
name = "t"
primary = "db1"
[replication]
user = "replicator"
passphrase = { env = "X" }
max_slot_wal_keep_size = "1GB"
[nodes.db1]
host = "10.0.0.1"
"#
            .to_owned(),
        )
        .unwrap();
        cluster.nodes[0].clone()
    }

    /// One unit's parser over `output`, from empty facts.
    fn run(unit: &Unit, output: &str) -> Reached {
        let node = node();
        let read = crate::desired::read_paths(&node);
        let context = ReadContext {
            layout: &node.postgres,
            read: &read,
            sync_entries: 1,
        };
        let mut reached = Reached::default();
        (unit.parse)(&key_values(output), &context, &mut reached);
        reached
    }

    #[test]
    fn every_unit_is_in_the_script_once_and_ready_is_asked_last() {
        let script = script();
        for unit in &UNITS {
            assert_eq!(script.matches(unit.script).count(), 1, "{}", unit.name);
        }
        assert!(script.trim_end().ends_with(READY.script.trim_end()));
        let names: Vec<_> = UNITS.iter().map(|unit| unit.name).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique);
    }

    #[test]
    fn the_data_directory_is_read_from_pg_controldata() {
        let control = "Database system identifier:           7300000000000000001\n\
            Database cluster state:               in archive recovery\n\
            Latest checkpoint's TimeLineID:       3\n\
            Latest checkpoint location:           0/3000060\n\
            Latest checkpoint's REDO location:    0/3000028\n\
            wal_log_hints setting:                off\n\
            Data page checksum version:           1\n";
        let reached = run(
            &DATA_DIR,
            &format!("data=initialized\ncontroldata={}\n", b64(control)),
        );
        assert_eq!(
            reached.data_dir,
            DataDir::Initialized {
                system_identifier: "7300000000000000001".into(),
                cluster_state: "in archive recovery".into(),
                checkpoint_timeline: 3,
                checkpoint_lsn: Some("0/3000060".into()),
                redo_lsn: Some("0/3000028".into()),
                rewindable: true,
            }
        );
        assert!(!reached.rewind_failed);
        let unreadable = run(
            &DATA_DIR,
            "data=unreadable\ndata_stat=root 700\nrewind_failed=yes\n",
        );
        assert_eq!(
            unreadable.data_dir,
            DataDir::Unreadable {
                owner: "root".into(),
                mode: "700".into()
            }
        );
        assert!(unreadable.rewind_failed);
        for (printed, expected) in [
            ("data=incomplete", DataDir::Incomplete),
            ("data=foreign", DataDir::Foreign),
            ("data=empty", DataDir::Empty),
            ("data=missing", DataDir::Missing),
            ("", DataDir::Missing),
        ] {
            assert_eq!(run(&DATA_DIR, printed).data_dir, expected, "{printed}");
        }
    }

    #[test]
    fn read_files_are_found_by_the_path_desired_listed() {
        let node = node();
        let read = crate::desired::read_paths(&node);
        let reached = run(
            &READ_FILES,
            &format!(
                "read0={}\nread3={}\n",
                b64("port = 5432\n"),
                b64("local all all peer\n")
            ),
        );
        assert_eq!(
            reached.files.text(&read.postgresql_conf),
            Some("port = 5432\n")
        );
        assert_eq!(reached.files.hba(), Some("local all all peer\n"));
        assert_eq!(reached.files.text(&read.mirrorset_conf), None);
        assert_eq!(reached.files.found.len(), 2);
    }

    #[test]
    fn secret_files_keep_mode_owner_and_content_and_nothing_else_shows_it() {
        let reached = run(
            &PASSFILE,
            &format!(
                "passfile_stat=644 root\npassfile={}\n",
                b64("*:*:*:r:s3cret\n")
            ),
        );
        let passfile = reached.passfile.unwrap();
        assert_eq!((passfile.mode, passfile.owner.as_str()), (0o644, "root"));
        assert_eq!(passfile.content.expose(), "*:*:*:r:s3cret\n");
        assert!(!format!("{passfile:?}").contains("s3cret"));
        let tls = run(
            &TLS_KEY,
            "key_stat=600 postgres\ntls_key=a2V5\ntls_mtime=1800000000.5\n",
        );
        assert_eq!(tls.tls_key.unwrap().content.expose(), "key");
        assert_eq!(tls.tls_mtime, Some(1_800_000_000.5));
        assert!(run(&PASSFILE, "").passfile.is_none());
    }

    #[test]
    fn the_record_is_read_or_its_error_kept() {
        let mut owned = Owned::new("t", "db1");
        owned.roles.insert("replicator".into());
        let reached = run(&OWNED_RECORD, &format!("owned={}\n", b64(&owned.render())));
        assert_eq!(reached.owned, Some(owned));
        let broken = run(&OWNED_RECORD, &format!("owned={}\n", b64("{ not json")));
        assert!(broken.owned.is_none() && broken.owned_error.is_some());
    }

    #[test]
    fn legacy_files_in_use_are_not_left_over() {
        let node = node();
        let reached = run(
            &LEGACY_FILES,
            "legacy_files= mirrorset.pgpass mirrorset-server.key\n",
        );
        let parent = Path::new(&node.postgres.data_dir).parent().unwrap();
        assert_eq!(
            reached.legacy_files,
            [
                parent.join("mirrorset.pgpass").display().to_string(),
                parent.join("mirrorset-server.key").display().to_string()
            ]
        );
    }

    #[test]
    fn the_verdict_and_readiness_are_read() {
        let reached = run(
            &VERDICT,
            &format!(
                "config_rejected={}\nlog_errors={}\n",
                b64("FATAL:  invalid value for parameter \"port\"\n"),
                b64("FATAL: one\nPANIC: two\n")
            ),
        );
        assert!(reached.config_rejected.unwrap().contains("port"));
        assert_eq!(reached.log_errors, ["FATAL: one", "PANIC: two"]);
        assert!(
            run(&VERDICT, "config_rejected=\n")
                .config_rejected
                .is_none()
        );
        assert!(run(&READY, "ready=0\n").running);
        assert!(!run(&READY, "ready=2\n").running);
        assert_eq!(
            run(
                &VERSION,
                "version=postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"
            )
            .postgres_version
            .as_deref(),
            Some("15.18")
        );
        assert!(run(&STANDBY_SIGNAL, "standby_signal=yes\n").standby_signal);
    }
}
