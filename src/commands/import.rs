//! `mirrorset import [user@]host[:port]`: logs in to a running primary,
//! finds its server (paths, port, binaries, how it runs), its mirrors (from
//! pg_stat_replication and the slots they stream through), logs in to each
//! mirror for its own, and prints a commented cluster file. Reads only:
//! nothing on a node is changed. I/O.

use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};

use crate::facts::discovery::{self, Postmaster};
use crate::model::{
    Access, ClusterName, Node, NodeName, NodeState, PostgresLayout, RoleName, ServiceControl,
    SlotName, SshTarget,
};
use crate::render::import::{Imported, ImportedNode, cluster_file};
use crate::transport::{self, AccessOptions, RemoteCommand, SqlSession};

/// What the command line says.
pub struct ImportArgs {
    /// `[user@]host[:port]` of the primary's SSH.
    pub primary: String,
    /// The cluster's name; default: the primary's cluster_name, else "imported".
    pub name: Option<String>,
    /// The primary server's port, when the machine runs several.
    pub pg_port: Option<u16>,
    /// `ADDRESS=SSH_HOST`: log in to the member at ADDRESS through SSH_HOST.
    pub ssh_hosts: Vec<String>,
    /// The OS user PostgreSQL runs as.
    pub os_user: String,
}

struct Login {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_login(text: &str) -> miette::Result<Login> {
    let (user, rest) = match text.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_owned()), rest),
        None => (None, text),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                miette!(
                    code = "import::usage",
                    "{text}: {port:?} is not an SSH port"
                )
            })?;
            (host.to_owned(), Some(port))
        }
        _ => (rest.to_owned(), None),
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(miette!(
            code = "import::usage",
            "{text:?} is not [user@]host[:port]"
        ));
    }
    Ok(Login { user, host, port })
}

/// A node to log in to while nothing is known of it but how to reach it.
fn probe_node(name: &str, ssh_host: &str, login: &Login, os_user: &str) -> miette::Result<Node> {
    Ok(Node {
        name: NodeName::new(name).map_err(|e| miette!("{e}"))?,
        host: ssh_host.to_owned(),
        slot: SlotName::new("import").map_err(|e| miette!("{e}"))?,
        state: NodeState::Member,
        tls: None,
        settings: Default::default(),
        access: Access::Ssh,
        ssh: SshTarget {
            host: ssh_host.to_owned(),
            port: login.port,
            user: login.user.clone(),
            key: None,
            known_hosts: None,
            config: None,
        },
        postgres: PostgresLayout {
            data_dir: String::new(),
            config_dir: String::new(),
            bin_dir: String::new(),
            port: 5432,
            socket_dir: "/var/run/postgresql".to_owned(),
            socket_dir_named: false,
            service: ServiceControl::PgCtl,
            state_dir: String::new(),
            passfile: String::new(),
            log_file: String::new(),
            os_user: os_user.to_owned(),
        },
        role_files: Vec::new(),
        sync: Vec::new(),
    })
}

/// A mirror streaming from the primary, as the primary sees it.
struct Walsender {
    user: String,
    address: String,
    slot: Option<String>,
    /// Its connection is encrypted.
    tls: bool,
    /// It logs in as a superuser.
    superuser: bool,
}

/// One member as found: how it runs, and what its server says.
struct Found {
    postmaster: Postmaster,
    config_dir: String,
    in_recovery: bool,
    cluster_name: String,
    /// On the primary: each walsender.
    walsenders: Vec<Walsender>,
    /// On a mirror: the address it streams from, and its slot.
    upstream: Option<(String, Option<String>)>,
    max_slot_wal_keep_size: Option<String>,
    hba_file: String,
    hostname: String,
    listen_addresses: String,
}

fn explore(node: &Node, options: &AccessOptions, pg_port: Option<u16>) -> miette::Result<Found> {
    let transport = transport::open(node, options)?;
    let place = transport
        .exec(&RemoteCommand::new("sh").args(["-c", discovery::WHERE]))?
        .stdout_text();
    let mut place = place.lines();
    let hostname = place.next().unwrap_or_default().trim().to_owned();
    let reached = place.next().unwrap_or_default().trim().to_owned();
    let output = transport.exec_as_postgres(RemoteCommand::new("sh").args([
        "-c",
        discovery::SCRIPT,
        "mirrorset-discover",
        &reached,
    ]))?;
    let mut servers = discovery::parse(&output.stdout_text()).on_reached_address();
    if let Some(port) = pg_port {
        servers.retain(|server| server.port == port);
    }
    let postmaster = match servers.len() {
        1 => servers.remove(0),
        0 => {
            return Err(miette!(
                code = "import::no_server",
                help = "start it, or name its port with --pg-port",
                "{}: no running PostgreSQL server{} that {} can see",
                node.ssh.host,
                pg_port.map(|p| format!(" on port {p}")).unwrap_or_default(),
                node.postgres.os_user
            ));
        }
        _ => {
            let ports: Vec<String> = servers
                .iter()
                .map(|s| format!("{} ({})", s.port, s.data_dir))
                .collect();
            return Err(miette!(
                code = "import::several_servers",
                help = "name the primary's with --pg-port",
                "{} runs several PostgreSQL servers: {}",
                node.ssh.host,
                ports.join(", ")
            ));
        }
    };
    let mut layout = node.postgres.clone();
    layout.port = postmaster.port;
    if let Some(socket_dir) = &postmaster.socket_dir {
        layout.socket_dir = socket_dir.clone();
    }
    let sql = SqlSession::connect(&*transport, &layout)?;
    let row = sql.query_one(
        "SELECT current_setting('config_file'), current_setting('hba_file'), pg_is_in_recovery(),
                current_setting('cluster_name'), current_setting('max_slot_wal_keep_size'),
                current_setting('listen_addresses')",
        &[],
    )?;
    let config_file: String = row.get(0);
    let in_recovery: bool = row.get(2);
    let keep: String = row.get(4);
    let walsenders = sql
        .query(
            // Physical streaming only: logical subscribers, pg_receivewal
            // and a running pg_basebackup are WAL senders too, not mirrors.
            "SELECT r.usename::text, host(r.client_addr), s.slot_name::text,
                    coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = r.pid), false),
                    coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = r.usename), false)
             FROM pg_stat_replication r
             JOIN pg_stat_activity a ON a.pid = r.pid AND a.datname IS NULL
             LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
             WHERE r.client_addr IS NOT NULL AND r.state IN ('streaming', 'catchup')
               AND r.application_name NOT IN ('pg_receivewal', 'pg_basebackup')
             ORDER BY r.client_addr",
            &[],
        )?
        .iter()
        .map(|row| Walsender {
            user: row.get(0),
            address: row.get(1),
            slot: row.get(2),
            tls: row.get(3),
            superuser: row.get(4),
        })
        .collect();
    let upstream = sql
        .query(
            "SELECT sender_host, slot_name FROM pg_stat_wal_receiver WHERE sender_host IS NOT NULL",
            &[],
        )?
        .first()
        .map(|row| (row.get(0), row.get(1)));
    Ok(Found {
        config_dir: config_file
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_owned())
            .unwrap_or(config_file.clone()),
        postmaster,
        in_recovery,
        cluster_name: row.get(3),
        walsenders,
        upstream,
        max_slot_wal_keep_size: (keep != "-1").then_some(keep),
        hba_file: row.get(1),
        hostname,
        listen_addresses: row.get(5),
    })
}

/// Node names from the machines' names when they are distinct and valid,
/// else db1, db2, … (the primary first).
fn node_names(hostnames: &[String]) -> Vec<String> {
    let short: Vec<String> = hostnames
        .iter()
        .map(|name| {
            name.split('.')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .collect();
    let distinct = short
        .iter()
        .enumerate()
        .all(|(i, name)| !short[..i].contains(name));
    if distinct && short.iter().all(|name| NodeName::new(name).is_ok()) {
        short
    } else {
        (1..=hostnames.len()).map(|n| format!("db{n}")).collect()
    }
}

fn imported_node(
    name: &str,
    host: &str,
    ssh_host: &str,
    found: &Found,
    slot: Option<String>,
) -> ImportedNode {
    let postmaster = &found.postmaster;
    let service = postmaster
        .systemd_unit
        .as_ref()
        .filter(|unit| unit.starts_with("postgresql"))
        .map(|unit| format!("systemd:{}", unit.trim_end_matches(".service")));
    ImportedNode {
        name: name.to_owned(),
        host: host.to_owned(),
        ssh_host: (ssh_host != host).then(|| ssh_host.to_owned()),
        slot: slot.filter(|slot| slot != &name.replace('-', "_")),
        data_dir: postmaster.data_dir.clone(),
        config_dir: found.config_dir.clone(),
        bin_dir: postmaster
            .bin_dir
            .clone()
            .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".to_owned()),
        port: postmaster.port,
        socket_dir: postmaster
            .socket_dir
            .clone()
            .filter(|dir| dir != "/var/run/postgresql" && dir != "/run/postgresql"),
        log_file: postmaster.log_file.clone(),
        service,
        listen_addresses: kept_listen_addresses(&found.listen_addresses, host),
        ssh_port: None,
    }
}

/// The server's listen_addresses, when it already lets the members in but
/// differs from what mirrorset writes (`localhost,<host>`): kept, so the
/// takeover restarts nothing for it.
fn kept_listen_addresses(current: &str, host: &str) -> Option<String> {
    let entries: Vec<&str> = current.split(',').map(str::trim).collect();
    let covers = entries
        .iter()
        .any(|entry| *entry == host || matches!(*entry, "*" | "0.0.0.0" | "::"));
    (covers && current != format!("localhost,{host}")).then(|| current.to_owned())
}

pub fn import(args: &ImportArgs, options: &AccessOptions) -> miette::Result<ExitCode> {
    let login = parse_login(&args.primary)?;
    let ssh_host_of = |address: &str| -> String {
        args.ssh_hosts
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .find(|(from, _)| *from == address)
            .map(|(_, to)| to.to_owned())
            .unwrap_or_else(|| address.to_owned())
    };
    let primary_node = probe_node("primary", &login.host, &login, &args.os_user)?;
    // The port given is the primary's SSH port; the mirrors' is ssh_config's.
    let mirror_login = Login {
        user: login.user.clone(),
        host: login.host.clone(),
        port: None,
    };
    let primary = explore(&primary_node, options, args.pg_port)?;
    if primary.in_recovery {
        return Err(miette!(
            code = "import::not_primary",
            help = "import from the primary: the mirrors are found from it",
            "{} is a standby",
            login.host
        ));
    }
    let Some(streaming_as) = primary.walsenders.first() else {
        return Err(miette!(
            code = "import::no_mirrors",
            help = "start the mirrors so that they stream, then import again",
            "{} has no mirror streaming from it",
            login.host
        ));
    };
    let mut notes = Vec::new();
    // mirrorset makes its replication role NOSUPERUSER and sets its
    // password: taking over a superuser (or a name it cannot manage) would
    // change it, so the file names a role of mirrorset's own instead.
    let user = if streaming_as.superuser || RoleName::new(&streaming_as.user).is_err() {
        notes.push(format!(
            "The mirrors stream as {}, {}: mirrorset would take that role over (NOSUPERUSER, its password). This file names a role of its own instead, replicator: the takeover creates it, and the mirrors switch to it.",
            streaming_as.user,
            if streaming_as.superuser {
                "a superuser"
            } else {
                "a name mirrorset does not manage (lowercase a-z, 0-9, _)"
            }
        ));
        "replicator".to_owned()
    } else {
        streaming_as.user.clone()
    };
    let mut mirrors = Vec::new();
    for walsender in &primary.walsenders {
        let ssh_host = ssh_host_of(&walsender.address);
        let node = probe_node("mirror", &ssh_host, &mirror_login, &args.os_user)?;
        let found = explore(&node, options, None)?;
        if !found.in_recovery {
            notes.push(format!(
                "{} ({ssh_host}) receives WAL from the primary but is not a standby: left out.",
                walsender.address
            ));
            continue;
        }
        mirrors.push((
            walsender.address.clone(),
            ssh_host,
            walsender.slot.clone(),
            found,
        ));
    }
    // Where the mirrors reach the primary: its address for the others.
    let primary_host = mirrors
        .iter()
        .find_map(|(_, _, _, found)| found.upstream.as_ref().map(|(host, _)| host.clone()))
        .unwrap_or_else(|| login.host.clone());
    let mut hostnames = vec![primary.hostname.clone()];
    hostnames.extend(
        mirrors
            .iter()
            .map(|(_, _, _, found)| found.hostname.clone()),
    );
    let names = node_names(&hostnames);
    let cluster = args
        .name
        .clone()
        .or_else(|| Some(primary.cluster_name.clone()).filter(|n| ClusterName::new(n).is_ok()))
        .unwrap_or_else(|| "imported".to_owned());
    ClusterName::new(&cluster).map_err(|e| miette!(code = "import::usage", "--name: {e}"))?;
    let mut primary_entry = imported_node(&names[0], &primary_host, &login.host, &primary, None);
    primary_entry.ssh_port = login.port;
    let mut nodes = vec![primary_entry];
    for ((address, ssh_host, slot, found), name) in mirrors.iter().zip(&names[1..]) {
        let slot = slot
            .clone()
            .or_else(|| found.upstream.as_ref().and_then(|(_, slot)| slot.clone()));
        if slot.is_none() {
            notes.push(format!(
                "{name} streams without a slot: mirrorset gives it one, {}.",
                name.replace('-', "_")
            ));
        }
        nodes.push(imported_node(name, address, ssh_host, found, slot));
    }
    notes.push(format!(
        "Lines of {} that mirrorset did not write stay as they are; plan reports those that may decide replication before its own block.",
        primary.hba_file
    ));
    if primary.walsenders.iter().any(|w| w.tls) {
        notes.push(
            "The mirrors stream over TLS now. With transport \"plain\" (this file's) they stay encrypted (sslmode=prefer) but no certificate is verified; to verify the primary's, set [replication] transport = \"tls\" with a [replication.tls] CA and each node's certificate (docs/cluster-file.md).".to_owned(),
        );
    }
    let imported = Imported {
        passphrase_env: format!(
            "{}_REPL_PASSPHRASE",
            cluster.to_ascii_uppercase().replace('-', "_")
        ),
        cluster,
        source: args.primary.clone(),
        primary: names[0].clone(),
        replication_user: user,
        max_slot_wal_keep_size: primary.max_slot_wal_keep_size.clone(),
        ssh_user: login.user.clone(),
        nodes,
        notes,
    };
    print!("{}", cluster_file(&imported));
    std::io::Write::flush(&mut std::io::stdout()).into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
