//! A quick look at every node for `mirrorset check`: can it be reached,
//! which PostgreSQL it has, whether the server runs and in which role, and
//! whether a mirror can reach the primary's port. One command and one SQL
//! query per node, all nodes at once. I/O.

use serde::Serialize;

use super::parse::{key_values, postgres_version};
use crate::model::{Cluster, Node, NodeName, NodeState};
use crate::transport::{
    self, AccessError, AccessOptions, DEFAULT_CONCURRENCY, RemoteCommand, SqlSession, Transport,
    fan_out,
};

/// Everything the probe found on one node, and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeProbe {
    pub name: NodeName,
    pub host: String,
    /// What the cluster file wants: `primary`, `mirror`, `standalone` or `absent`.
    pub wanted: &'static str,
    /// False when the node was not contacted (absent nodes are left alone).
    pub contacted: bool,
    pub reachable: bool,
    /// "15.18", when the binaries are there.
    pub postgres_version: Option<String>,
    pub running: Option<bool>,
    pub role: Option<ObservedRole>,
    /// For mirrors: whether the primary's PostgreSQL port answers from this node.
    pub reaches_primary: Option<bool>,
    /// pg_stat_wal_receiver's status and sender, when it runs as a standby.
    pub receiver: Option<String>,
    #[serde(skip)]
    streams_from: Option<String>,
    pub problems: Vec<ProbeProblem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedRole {
    Primary,
    Standby,
    /// Initialised but not running.
    Stopped,
    /// Running but not yet accepting connections.
    Starting,
    /// No PostgreSQL data directory.
    Empty,
    /// A data directory that holds files but no PostgreSQL cluster.
    Foreign,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeProblem {
    pub message: String,
    pub help: Option<String>,
}

impl NodeProbe {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, message: String, help: Option<String>) {
        self.problems.push(ProbeProblem { message, help });
    }

    /// An access error as a problem; the node's name is already on the line.
    fn access_problem(&mut self, error: &AccessError) {
        let message = error.to_string();
        let message = message
            .strip_prefix(&format!("{}: ", self.name))
            .unwrap_or(&message)
            .to_owned();
        let help = miette::Diagnostic::help(error).map(|help| help.to_string());
        self.problem(message, help);
    }
}

/// Prints what the node has, as key=value lines; paths arrive as arguments.
const PROBE: &str = concat!(
    r#"bin=$1 data=$2 socket=$3 port=$4 primary_host=$5 primary_port=$6 login=$7 config=$8 log=$9
if version=$("$bin/postgres" --version 2>/dev/null); then printf 'version=%s\n' "$version"; else echo version=; fi
if [ -d "$data" ] && { [ ! -r "$data" ] || [ ! -x "$data" ]; }; then echo initialized=unreadable
elif [ -f "$data/PG_VERSION" ]; then echo initialized=yes
elif [ -n "$(ls -A "$data" 2>/dev/null)" ]; then echo initialized=foreign
else echo initialized=no; fi
"$bin/pg_isready" -q -h "$socket" -p "$port" -t 3; ready=$?; echo "local_ready=$ready"
if [ -f "$data/PG_VERSION" ]; then
"#,
    super::verdict_lines!(),
    r#"fi
if [ -n "$login" ] && [ -f "$data/PG_VERSION" ] && [ ! -e "$data/standby.signal" ]; then echo standby_signal=missing; fi
if [ -n "$primary_host" ]; then "$bin/pg_isready" -q -h "$primary_host" -p "$primary_port" -t 5; echo "primary_ready=$?"; fi
if [ -n "$login" ] && [ -f "$data/PG_VERSION" ]; then
  if said=$("$bin/psql" -XAtqw -d "$login" -c IDENTIFY_SYSTEM 2>&1); then echo login=ok
  else printf 'login_error='; printf '%s' "$said" | base64 -w0; echo; fi
fi
"#
);

/// Probes every node of the cluster concurrently; absent nodes are listed, not contacted.
pub fn probe_cluster(cluster: &Cluster, options: &AccessOptions) -> Vec<NodeProbe> {
    let mut probes = fan_out(&cluster.nodes, DEFAULT_CONCURRENCY, |node| {
        probe_node(cluster, node, options)
    });
    compare(cluster, &mut probes);
    probes
}

fn probe_node(cluster: &Cluster, node: &Node, options: &AccessOptions) -> NodeProbe {
    let is_primary = node.name == cluster.primary;
    let wanted = match node.state {
        NodeState::Member if is_primary => "primary",
        NodeState::Member => "mirror",
        NodeState::Standalone => "standalone",
        NodeState::Absent => "absent",
    };
    let mut probe = NodeProbe {
        name: node.name.clone(),
        host: node.host.clone(),
        wanted,
        contacted: node.state != NodeState::Absent,
        reachable: false,
        postgres_version: None,
        running: None,
        role: None,
        reaches_primary: None,
        receiver: None,
        streams_from: None,
        problems: Vec::new(),
    };
    if !probe.contacted {
        return probe;
    }
    let transport = match transport::open(node, options) {
        Ok(transport) => transport,
        Err(error) => {
            probe.access_problem(&error);
            return probe;
        }
    };
    probe.reachable = true;
    let primary = cluster
        .node(&cluster.primary)
        .filter(|_| wanted == "mirror");
    let layout = &node.postgres;
    let command = RemoteCommand::new("sh").args([
        "-c".to_owned(),
        PROBE.to_owned(),
        "mirrorset-probe".to_owned(),
        layout.bin_dir.clone(),
        layout.data_dir.clone(),
        layout.socket_dir.clone(),
        layout.port.to_string(),
        primary.map(|p| p.host.clone()).unwrap_or_default(),
        primary
            .map(|p| p.postgres.port.to_string())
            .unwrap_or_default(),
        // The mirror's own replication login, as its WAL receiver makes it.
        primary
            .map(|p| {
                format!(
                    "{} {}",
                    crate::desired::replication_conninfo(cluster, node, p, None),
                    crate::desired::conninfo(&[
                        ("application_name", "mirrorset-check"),
                        ("replication", "true"),
                    ])
                )
            })
            .unwrap_or_default(),
        layout.config_dir.clone(),
        layout.log_file.clone(),
    ]);
    let output = match transport.exec_as_postgres(command) {
        Ok(output) if output.success() => output,
        Ok(output) => {
            probe.problem(
                format!("the probe command failed: {}", output.failure_reason()),
                None,
            );
            return probe;
        }
        Err(error) => {
            probe.access_problem(&error);
            return probe;
        }
    };
    let facts = key_values(&output.stdout_text());
    let fact = |key: &str| facts.get(key).map(String::as_str).unwrap_or_default();
    probe.postgres_version = postgres_version(fact("version"));
    if probe.postgres_version.is_none() {
        probe.problem(
            format!("PostgreSQL binaries not found in {}", layout.bin_dir),
            Some(
                "install PostgreSQL on the node, or set postgres.bin_dir in the cluster file"
                    .to_owned(),
            ),
        );
    }
    let role = match (fact("local_ready"), fact("initialized")) {
        ("0", _) => observe_running_role(&*transport, node, &mut probe),
        ("1", _) => Some(ObservedRole::Starting),
        (_, "yes") => Some(ObservedRole::Stopped),
        (_, "foreign") => Some(ObservedRole::Foreign),
        (_, "unreadable") => {
            probe.problem(
                format!(
                    "the PostgreSQL user cannot read its data directory {}",
                    layout.data_dir
                ),
                Some("give it to the PostgreSQL user (chown, chmod 700); mirrorset never touches what it cannot read".to_owned()),
            );
            None
        }
        _ => Some(ObservedRole::Empty),
    };
    probe.running = Some(matches!(
        role,
        Some(ObservedRole::Primary | ObservedRole::Standby | ObservedRole::Starting)
    ));
    probe.role = role;
    match role {
        Some(ObservedRole::Stopped) => probe.problem(
            format!("PostgreSQL is not running (its data directory {} is initialised)", layout.data_dir),
            Some("`mirrorset plan` shows how it comes back: a start, or a rewind first for a former primary (starting that by hand risks a split brain)".to_owned()),
        ),
        Some(ObservedRole::Starting) => probe.problem(
            "PostgreSQL is running but not accepting connections yet (starting up or shutting down)".to_owned(),
            Some("wait and check again; the server log says why".to_owned()),
        ),
        Some(ObservedRole::Foreign) => probe.problem(
            format!("the data directory {} is not empty but holds no PostgreSQL cluster", layout.data_dir),
            Some("check postgres.data_dir in the cluster file; mirrorset never deletes a directory".to_owned()),
        ),
        Some(ObservedRole::Empty) if is_primary => probe.problem(
            format!("this is the primary, but its data directory {} is empty", layout.data_dir),
            Some("name the node that holds the data as primary, or initialise this one".to_owned()),
        ),
        _ => {}
    }
    let decoded = |key: &str| {
        facts.get(key).map(|text| {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default()
        })
    };
    if let Some(rejected) = decoded("config_rejected") {
        probe.problem(
            format!(
                "PostgreSQL rejects its configuration, so a start or restart would fail: {}",
                crate::facts::parse::server_messages(&rejected)
            ),
            Some("fix the file and line named; `mirrorset plan` says the same".to_owned()),
        );
    }
    if fact("standby_signal") == "missing" {
        probe.problem(
            format!(
                "{}/standby.signal is missing: its next start would make it a second writable primary",
                layout.data_dir
            ),
            Some("`mirrorset apply` writes it back".to_owned()),
        );
    }
    if let Some(said) = decoded("login_error") {
        probe.problem(
            format!(
                "the replication login to {} as {} fails: {}",
                cluster.primary,
                cluster.replication.user,
                said.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            Some("`mirrorset plan` repairs the passfile, the role and pg_hba lines it manages; a rule of your own may reject it first".to_owned()),
        );
    }
    if let Some(primary) = primary {
        let ready = fact("primary_ready");
        probe.reaches_primary = Some(ready == "0" || ready == "1");
        if probe.reaches_primary == Some(false) {
            probe.problem(
                format!(
                    "cannot reach the primary's PostgreSQL at {}:{} from this node (pg_isready exit {ready})",
                    primary.host, primary.postgres.port
                ),
                Some("check that the primary runs, its listen_addresses, and any firewall between the nodes".to_owned()),
            );
        }
    }
    probe
}

/// Asks the running server, in one query on the same session: whether it
/// is in recovery, what its WAL receiver does, and what PostgreSQL says
/// of its configuration files.
fn observe_running_role(
    transport: &dyn Transport,
    node: &Node,
    probe: &mut NodeProbe,
) -> Option<ObservedRole> {
    let result = SqlSession::connect(transport, &node.postgres).and_then(|sql| {
        sql.query_one(
            "SELECT pg_is_in_recovery(),
                    (SELECT status || ' from ' || coalesce(sender_host, '?') || ' through slot '
                            || coalesce(slot_name, '(none)') FROM pg_stat_wal_receiver),
                    (SELECT sender_host || ' ' || coalesce(slot_name, '') FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                    (SELECT sourcefile || ' line ' || sourceline || ': ' || error FROM pg_file_settings
                     WHERE error IS NOT NULL AND error <> 'setting could not be applied' ORDER BY seqno LIMIT 1),
                    (SELECT 'pg_hba.conf line ' || line_number || ': ' || error FROM pg_hba_file_rules
                     WHERE error IS NOT NULL ORDER BY line_number LIMIT 1),
                    CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
                    (SELECT f.sourcefile || ' line ' || f.sourceline || ' sets ' || f.name || ' = ' || f.setting
                            || ' after mirrorset.conf, which sets it too'
                     FROM pg_file_settings f
                     WHERE f.sourcefile NOT LIKE '%/mirrorset.conf' AND f.sourcefile NOT LIKE '%/postgresql.auto.conf'
                       AND EXISTS (SELECT 1 FROM pg_file_settings m WHERE m.sourcefile LIKE '%/mirrorset.conf'
                                   AND m.name = f.name AND m.seqno < f.seqno)
                     ORDER BY f.seqno LIMIT 1)",
            &[],
        )
    });
    match result {
        Ok(row) => {
            probe.receiver = row.get(1);
            probe.streams_from = row.get(2);
            for error in [row.get::<_, Option<String>>(3), row.get(4)]
                .into_iter()
                .flatten()
            {
                probe.problem(
                    format!("PostgreSQL rejects its configuration: {error}"),
                    Some("fix that line: until then a reload applies nothing from the file, and a restart fails".to_owned()),
                );
            }
            if let Some(overridden) = row.get::<_, Option<String>>(6) {
                probe.problem(
                    format!("PostgreSQL would not run with what mirrorset.conf says: {overridden}"),
                    Some("move the value into the cluster file and delete that line; `mirrorset plan` refuses until then".to_owned()),
                );
            }
            if row.get::<_, Option<bool>>(5) == Some(true) {
                probe.problem(
                    "replay is paused: it receives WAL but falls further behind".to_owned(),
                    Some("`SELECT pg_wal_replay_resume()` on it resumes".to_owned()),
                );
            }
            Some(if row.get::<_, bool>(0) {
                ObservedRole::Standby
            } else {
                ObservedRole::Primary
            })
        }
        Err(error) => {
            probe.access_problem(&error);
            None
        }
    }
}

/// What one node's probe cannot tell alone: a second writable primary, a
/// mirror that does not stream from the file's primary through its slot.
fn compare(cluster: &Cluster, probes: &mut [NodeProbe]) {
    let primary_host = cluster.node(&cluster.primary).map(|p| p.host.clone());
    for probe in probes.iter_mut() {
        let wanted_stream = cluster
            .node(&probe.name)
            .zip(primary_host.as_ref())
            .map(|(node, host)| format!("{host} {}", node.slot));
        match (probe.wanted, probe.role) {
            ("standalone", Some(ObservedRole::Standby)) => probe.problem(
                "the file wants it standalone, but it is still a standby".to_owned(),
                Some("`mirrorset apply` detaches and promotes it".to_owned()),
            ),
            ("mirror", Some(ObservedRole::Primary)) => probe.problem(
                format!(
                    "runs as a writable primary while the file names {}: split brain",
                    cluster.primary
                ),
                Some(format!(
                    "stop it now if {} has the data you want (`mirrorset plan` then rewinds it); otherwise name it primary",
                    cluster.primary
                )),
            ),
            ("primary", Some(ObservedRole::Standby)) => probe.problem(
                "the file names it primary, but it is a standby".to_owned(),
                Some("`mirrorset plan` shows the switchover that makes it primary".to_owned()),
            ),
            ("mirror", Some(ObservedRole::Standby))
                if probe.streams_from.is_none() || probe.streams_from != wanted_stream =>
            {
                let receiver = probe
                    .receiver
                    .clone()
                    .unwrap_or_else(|| "no WAL receiver".to_owned());
                probe.problem(
                    format!(
                        "does not stream from {} through its slot ({receiver})",
                        cluster.primary
                    ),
                    Some("the server log says why; `mirrorset plan` shows what mirrorset would change".to_owned()),
                )
            }
            _ => {}
        }
    }
}
