//! One action, done: its precondition checked, then the change made
//! through the node's transport or SQL session. I/O.

use std::time::{Duration, Instant};

use super::service::{ServiceAction, control};
use super::{Applier, ApplyError};
use crate::desired::replication_conninfo;
use crate::facts::REWIND_FAILED;
use crate::model::quote_identifier;
use crate::model::{Lsn, NodeName, scram_verifier};
use crate::plan::{Action, ActionKind, Precondition, SecretRef};
use crate::transport::{AccessError, RemoteCommand};

impl Applier<'_> {
    pub(super) fn failed(&self, node: &NodeName, message: impl Into<String>) -> ApplyError {
        ApplyError::Failed {
            node: node.clone(),
            message: message.into(),
        }
    }

    fn check_precondition(
        &self,
        name: &NodeName,
        precondition: &Precondition,
    ) -> Result<(), ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let session = self.session(name);
        let stale = |message: String| ApplyError::Precondition {
            node: name.clone(),
            message,
        };
        match precondition {
            Precondition::None => Ok(()),
            Precondition::FileUnchanged { path, sha256 } => {
                let now = session
                    .transport
                    .read_file(path)?
                    .map(|bytes| crate::plan::sha256_bytes(&bytes));
                if &now == sha256 {
                    Ok(())
                } else {
                    Err(stale(format!("{path} changed since the plan was made")))
                }
            }
            Precondition::DataDirEmpty => {
                let output = session.transport.exec_as_postgres(
                    RemoteCommand::new("ls").args(["-A", &node.postgres.data_dir]),
                )?;
                if output.stdout.is_empty() {
                    Ok(())
                } else {
                    Err(stale(format!(
                        "{} is no longer empty",
                        node.postgres.data_dir
                    )))
                }
            }
            Precondition::SystemIdentifier { system_identifier } => {
                let output = session.transport.exec_as_postgres(
                    RemoteCommand::new(format!("{}/pg_controldata", node.postgres.bin_dir))
                        .arg(&node.postgres.data_dir),
                )?;
                if output.stdout_text().contains(system_identifier.as_str()) {
                    Ok(())
                } else {
                    Err(stale(format!(
                        "{} no longer holds system {system_identifier}",
                        node.postgres.data_dir
                    )))
                }
            }
            Precondition::NodeStopped { node: other } => {
                let other_name = NodeName::new(other)
                    .map_err(|e| stale(format!("the plan names an invalid node {other:?}: {e}")))?;
                if self.server_running(&other_name)? {
                    Err(stale(format!(
                        "{other} is running; it must be stopped before this step"
                    )))
                } else {
                    Ok(())
                }
            }
            Precondition::SlotMissing { slot } => {
                if slot_exists(session, &node.postgres, slot)? {
                    Err(stale(format!("slot {slot} exists already")))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Does the action; returns a note for the operator when there is one.
    pub(super) fn execute(
        &self,
        name: &NodeName,
        action: &Action,
        advance: &(dyn Fn(&str) + Sync),
    ) -> Result<Option<String>, ApplyError> {
        self.check_precondition(name, &action.precondition)?;
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let session = self.session(name);
        let transport = &*session.transport;
        let layout = &node.postgres;
        let user = self.cluster.replication.user.as_str();
        match &action.kind {
            ActionKind::WriteFile {
                path,
                mode,
                enforce_mode,
                after,
                secret,
                ..
            } => {
                let content = if let Some(secret) = secret {
                    // Secrets are never in the plan: derived here again.
                    let desired = self
                        .desired
                        .node(name)
                        .expect("every node has a desired state");
                    match (secret, &desired.tls) {
                        (SecretRef::Passfile, _) => desired.passfile.expose().clone(),
                        (SecretRef::TlsKey, Some(tls)) => tls.key.expose().clone(),
                        (SecretRef::TlsKey, None) => {
                            return Err(self.failed(
                                name,
                                format!("the plan writes a TLS key to {path}, but the cluster file gives {name} no certificate; plan again"),
                            ));
                        }
                    }
                } else {
                    after.clone().ok_or_else(|| {
                        self.failed(name, format!("the plan has no content for {path}"))
                    })?
                };
                // A copy kept inside the data directory would travel with
                // the next clone or rewind; secrets keep none at all.
                let in_data_dir = path.starts_with(&format!("{}/", layout.data_dir));
                // The record is rewritten whole each time; old copies would only mislead.
                let record = path == &format!("{}/{}", layout.state_dir, crate::model::OWNED_FILE);
                let outcome = if secret.is_some() || in_data_dir || record {
                    transport.write_file_atomic_no_backup(path, content.as_bytes(), *mode)?
                } else {
                    transport.write_file_atomic(path, content.as_bytes(), *mode)?
                };
                if *enforce_mode {
                    let output = transport.exec_as_postgres(
                        RemoteCommand::new("chmod").args([format!("{mode:o}"), path.clone()]),
                    )?;
                    if !output.success() {
                        return Err(
                            self.failed(name, format!("chmod {path}: {}", output.failure_reason()))
                        );
                    }
                }
                Ok(outcome
                    .backup
                    .map(|backup| format!("previous version kept as {backup}")))
            }
            ActionKind::WriteStandbySignal { path } => {
                transport.write_file_atomic_no_backup(path, b"", 0o600)?;
                Ok(None)
            }
            ActionKind::ResetSetting { setting } => {
                if !crate::model::is_setting_name(setting) {
                    return Err(self.failed(name, format!("{setting:?} is not a setting name")));
                }
                session.with_sql(layout, |sql| {
                    sql.execute(&format!("ALTER SYSTEM RESET {setting}"), &[])
                })?;
                Ok(None)
            }
            ActionKind::EnsureRole {
                create,
                connection_limit,
                set_password,
                ..
            } => {
                let mut statement = format!(
                    "{} ROLE {} LOGIN REPLICATION NOSUPERUSER CONNECTION LIMIT {connection_limit}",
                    if *create { "CREATE" } else { "ALTER" },
                    quote_identifier(user)
                );
                if *set_password {
                    // The verifier, never the passphrase, reaches the server.
                    let verifier = scram_verifier(self.passphrase);
                    statement.push_str(&format!(
                        " PASSWORD '{}'",
                        verifier.expose().replace('\'', "''")
                    ));
                }
                session.with_sql(layout, |sql| sql.execute(&statement, &[]))?;
                Ok(None)
            }
            ActionKind::GrantRewind { function, .. } => {
                if !crate::desired::REWIND_FUNCTIONS.contains(&function.as_str()) {
                    return Err(
                        self.failed(name, format!("{function} is not a pg_rewind function"))
                    );
                }
                session.with_sql(layout, |sql| {
                    sql.execute(
                        &format!(
                            "GRANT EXECUTE ON FUNCTION {function} TO {}",
                            quote_identifier(user)
                        ),
                        &[],
                    )
                })?;
                Ok(None)
            }
            // Reserved at once: a clone streams WAL through it, and another
            // clone's checkpoint must not recycle a segment it still needs.
            ActionKind::CreateSlot { slot, .. } => {
                session.with_sql(layout, |sql| {
                    sql.execute(
                        "SELECT pg_create_physical_replication_slot($1, true)",
                        &[slot],
                    )
                })?;
                Ok(None)
            }
            ActionKind::DropSlot { slot, .. } => {
                if !slot_exists(session, layout, slot)? {
                    return Ok(Some(format!("slot {slot} does not exist; nothing to drop")));
                }
                session.with_sql(layout, |sql| {
                    sql.execute(
                        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active",
                        &[slot],
                    )
                })?;
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let active = session.with_sql(layout, |sql| {
                        Ok(!sql.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active", &[slot])?.is_empty())
                    })?;
                    if !active {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(self.failed(
                            name,
                            format!(
                                "slot {slot} is still in use after its walsender was terminated"
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                session.with_sql(layout, |sql| {
                    sql.execute("SELECT pg_drop_replication_slot($1)", &[slot])
                })?;
                Ok(None)
            }
            ActionKind::RemoveFile { path, .. } => {
                let output = transport.exec_as_postgres(RemoteCommand::new("rm").args([
                    "-f",
                    "--",
                    path.as_str(),
                ]))?;
                if !output.success() {
                    return Err(self.failed(
                        name,
                        format!("removing {path}: {}", output.failure_reason()),
                    ));
                }
                Ok(None)
            }
            ActionKind::RetireRole { user: retired, .. } => self.retire_role(name, retired),
            ActionKind::RunHook {
                hook,
                argv,
                old_role,
                new_role,
            } => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(self.failed(name, format!("hook {hook} names no program")));
                };
                let command = RemoteCommand::new(program.as_str())
                    .args(args)
                    .env("MIRRORSET_CLUSTER", self.cluster.name.as_str())
                    .env("MIRRORSET_NODE", name.as_str())
                    .env("MIRRORSET_OLD_ROLE", old_role.as_str())
                    .env("MIRRORSET_NEW_ROLE", new_role.as_str())
                    .timeout(HOOK_TIMEOUT);
                // As the login user: the application is not PostgreSQL's.
                let output = transport.exec(&command)?;
                if !output.success() {
                    return Err(self.failed(
                        name,
                        format!(
                            "hook {hook} failed: {}; nothing after it was done",
                            output.failure_reason()
                        ),
                    ));
                }
                let said = output.stdout_text().trim().to_owned();
                Ok((!said.is_empty()).then(|| format!("it said: {said}")))
            }
            ActionKind::Fence {
                argv,
                old_node,
                old_host,
            } => self.fence(name, argv, old_node, old_host),
            ActionKind::SyncFile {
                from_node,
                from_path,
                path,
                sha256,
                size,
                mode,
                owner,
                sensitive,
            } => self.copy_file(
                name,
                &super::copy::Copy {
                    from_node,
                    from_path,
                    path,
                    sha256,
                    size: *size,
                    mode: *mode,
                    owner,
                    sensitive: *sensitive,
                },
                advance,
            ),
            ActionKind::Clone { .. } => self.clone_data(name, &action.kind, advance),
            ActionKind::Reload => {
                match layout.service {
                    crate::model::ServiceControl::Commands {
                        reload: Some(_), ..
                    } => control(transport, node, ServiceAction::Reload)?,
                    _ => {
                        session
                            .with_sql(layout, |sql| sql.execute("SELECT pg_reload_conf()", &[]))?;
                    }
                }
                Ok(None)
            }
            ActionKind::Restart { .. } => {
                // Never stop a running server into a configuration that will not start.
                self.check_configuration(name, "restarted")?;
                session.drop_sql();
                control(transport, node, ServiceAction::Restart)
                    .map_err(|error| self.with_log_errors(name, error))?;
                Ok(None)
            }
            ActionKind::Start => {
                self.check_configuration(name, "started")?;
                session.drop_sql();
                control(transport, node, ServiceAction::Start)
                    .map_err(|error| self.with_log_errors(name, error))?;
                Ok(None)
            }
            ActionKind::Stop => {
                session.drop_sql();
                control(transport, node, ServiceAction::Stop)?;
                Ok(None)
            }
            ActionKind::WaitReceived { from_node } => self.wait_received(name, from_node),
            ActionKind::Promote => {
                // pg_promote(wait => true) looks every 100 ms; writes are
                // refused meanwhile, so the end is watched every 10 ms.
                let requested = session.with_sql(layout, |sql| {
                    Ok(sql
                        .query_one("SELECT pg_promote(false)", &[])?
                        .get::<_, bool>(0))
                })?;
                if !requested {
                    return Err(self.failed(
                        name,
                        format!("the server refused to be promoted; see {}", layout.log_file),
                    ));
                }
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let in_recovery = session.with_sql(layout, |sql| {
                        Ok(sql
                            .query_one("SELECT pg_is_in_recovery()", &[])?
                            .get::<_, bool>(0))
                    })?;
                    if !in_recovery {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(self.failed(
                            name,
                            format!(
                                "the promotion did not finish within 60s; see {}",
                                layout.log_file
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(Some("promoted: accepts writes".to_owned()))
            }
            ActionKind::Rewind {
                from_host,
                from_port,
                data_dir,
                ..
            } => self.rewind(name, from_host, *from_port, data_dir),
            ActionKind::WaitStreaming { upstream } => self.wait_streaming(name, upstream),
            ActionKind::Replan => Err(self.failed(
                name,
                "a step that plans again runs only in the order of the plan",
            )),
        }
    }

    /// `postgres -C` reads the configuration as a start would; Err names
    /// the file and line PostgreSQL rejects, and the server is left as it is.
    fn check_configuration(&self, name: &NodeName, would_be: &str) -> Result<(), ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let layout = &node.postgres;
        let output = self.session(name).transport.exec_as_postgres(
            RemoteCommand::new(format!("{}/postgres", layout.bin_dir)).args([
                "-D",
                &layout.config_dir,
                "-C",
                "data_directory",
            ]),
        )?;
        if output.success() {
            return Ok(());
        }
        Err(self.failed(
            name,
            format!(
                "PostgreSQL rejects its configuration, so it was not {would_be}: {}",
                crate::facts::parse::server_messages(&String::from_utf8_lossy(&output.stderr))
            ),
        ))
    }

    /// The last errors in the node's server log, one line each.
    fn last_log_errors(&self, name: &NodeName) -> Vec<String> {
        let Some(node) = self.cluster.node(name) else {
            return Vec::new();
        };
        let command = RemoteCommand::new("sh").args([
            "-c",
            concat!("log=$1\n", crate::facts::log_errors_pipeline!()),
            "mirrorset-log",
            &node.postgres.log_file,
        ]);
        match self.session(name).transport.exec_as_postgres(command) {
            Ok(output) => output
                .stdout_text()
                .lines()
                .map(crate::facts::parse::server_message)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A failed start or restart, with what the server's log says.
    fn with_log_errors(&self, name: &NodeName, error: AccessError) -> ApplyError {
        match self.last_log_errors(name).last() {
            Some(line) => {
                let said = error.to_string();
                let said = said.strip_prefix(&format!("{name}: ")).unwrap_or(&said);
                self.failed(name, format!("{said}; the log says: {line}"))
            }
            None => error.into(),
        }
    }

    /// Whether the node's postmaster runs (pg_ctl status on its data directory).
    fn server_running(&self, name: &NodeName) -> Result<bool, ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let output = self.session(name).transport.exec_as_postgres(
            RemoteCommand::new(format!("{}/pg_ctl", node.postgres.bin_dir)).args([
                "status",
                "-D",
                &node.postgres.data_dir,
            ]),
        )?;
        match output.status {
            Some(0) => Ok(true),
            Some(3 | 4) => Ok(false),
            _ => Err(self.failed(
                name,
                format!("pg_ctl status failed: {}", output.failure_reason()),
            )),
        }
    }

    /// pg_controldata of a node's data directory, as key/value pairs.
    fn controldata(
        &self,
        name: &NodeName,
    ) -> Result<std::collections::BTreeMap<String, String>, ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let output = self.session(name).transport.exec_as_postgres(
            RemoteCommand::new(format!("{}/pg_controldata", node.postgres.bin_dir))
                .arg(&node.postgres.data_dir),
        )?;
        if !output.success() {
            return Err(self.failed(
                name,
                format!("pg_controldata failed: {}", output.failure_reason()),
            ));
        }
        Ok(crate::facts::parse::controldata(&output.stdout_text()))
    }

    /// Waits until `name` has received everything `from` wrote: past its
    /// shutdown checkpoint, which is the last record of a clean stop.
    fn wait_received(&self, name: &NodeName, from: &str) -> Result<Option<String>, ApplyError> {
        let from_name = NodeName::new(from).map_err(|e| {
            self.failed(
                name,
                format!("the plan names an invalid node {from:?}: {e}"),
            )
        })?;
        let control = self.controldata(&from_name)?;
        let state = control
            .get("Database cluster state")
            .cloned()
            .unwrap_or_default();
        if state != "shut down" {
            return Err(self.failed(
                name,
                format!(
                    "{from} is not cleanly shut down ({state}): what it wrote last may not have reached {name}; plan again"
                ),
            ));
        }
        let checkpoint = control
            .get("Latest checkpoint location")
            .and_then(|text| Lsn::parse(text))
            .ok_or_else(|| {
                self.failed(
                    name,
                    format!("{from}'s pg_controldata has no checkpoint location"),
                )
            })?;
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let session = self.session(name);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = session.with_sql(&node.postgres, |sql| {
                Ok(sql
                    .query_one("SELECT pg_last_wal_receive_lsn()::text", &[])?
                    .get::<_, Option<String>>(0))
            })?;
            let received = received.as_deref().and_then(Lsn::parse);
            if received.is_some_and(|lsn| lsn > checkpoint) {
                return Ok(Some(format!(
                    "received up to {}, past {from}'s shutdown checkpoint at {checkpoint}",
                    received.expect("checked")
                )));
            }
            if Instant::now() > deadline {
                return Err(self.failed(
                    name,
                    format!(
                        "has received WAL up to {} after 60s, not past {from}'s shutdown checkpoint at {checkpoint}; not promoted. Start {from} again, or plan a failover",
                        received.map_or("nothing".to_owned(), |lsn| lsn.to_string())
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// pg_rewind as the PostgreSQL user, connecting as the replication
    /// role with the node's passfile (no password on the command line).
    fn rewind(
        &self,
        name: &NodeName,
        from_host: &str,
        from_port: u16,
        data_dir: &str,
    ) -> Result<Option<String>, ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        // A just-promoted source still has the old timeline in its control
        // file until its first checkpoint, and pg_rewind 15 reads it there:
        // without this it reports "no rewind required" for a diverged node.
        let primary = self.cluster.node(&self.cluster.primary).expect("validated");
        self.session(&primary.name)
            .with_sql(&primary.postgres, |sql| sql.execute("CHECKPOINT", &[]))?;
        let source = replication_conninfo(self.cluster, node, primary, Some("postgres"));
        let command = RemoteCommand::new(format!("{}/pg_rewind", node.postgres.bin_dir))
            .args([
                "-D".to_owned(),
                data_dir.to_owned(),
                format!("--source-server={source}"),
                format!("--config-file={}/postgresql.conf", node.postgres.config_dir),
            ])
            .timeout(Duration::from_secs(24 * 3600));
        let transport = &*self.session(name).transport;
        let output = transport.exec_as_postgres(command)?;
        if !output.success() {
            // The next plan reads this and clones the node again instead:
            // a failed rewind can leave the directory unusable.
            let reason = output.failure_reason();
            transport.write_file_atomic(
                &format!("{data_dir}.{REWIND_FAILED}"),
                format!("pg_rewind from {from_host}:{from_port} failed: {reason}\n").as_bytes(),
                0o600,
            )?;
            return Err(self.failed(
                name,
                format!(
                    "pg_rewind from {from_host}:{from_port} failed: {reason}; the next plan clones {name} again instead (its data directory moved aside)"
                ),
            ));
        }
        let said = format!(
            "{}{}",
            output.stdout_text(),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(Some(if said.contains("no rewind required") {
            "no rewind required: nothing to undo".to_owned()
        } else {
            match said.lines().find(|line| line.contains("servers diverged")) {
                Some(line) => format!(
                    "rewound ({})",
                    line.trim_start_matches("pg_rewind: ").trim()
                ),
                None => "rewound".to_owned(),
            }
        }))
    }

    fn clone_data(
        &self,
        name: &NodeName,
        clone: &ActionKind,
        advance: &(dyn Fn(&str) + Sync),
    ) -> Result<Option<String>, ApplyError> {
        let ActionKind::Clone {
            from_host,
            from_port,
            slot,
            data_dir,
            move_aside,
            ..
        } = clone
        else {
            unreachable!("clone_data is called for clone actions");
        };
        let (from_port, move_aside) = (*from_port, *move_aside);
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let transport = &*self.session(name).transport;
        let mut note = None;
        if move_aside {
            if let Some(moved) = transport.move_aside(data_dir)? {
                self.progress.warn(&format!(
                    "{name}: MOVED {data_dir} ASIDE to {moved} (kept, not deleted)"
                ));
                note = Some(format!("the old data directory is kept at {moved}"));
            }
        }
        // An interrupted clone's pg_basebackup may still hold the slot.
        let primary = self.cluster.node(&self.cluster.primary).expect("validated");
        let primary_session = self.session(&primary.name);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let active = primary_session.with_sql(&primary.postgres, |sql| {
                let rows = sql.query(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active",
                    &[&slot],
                )?;
                Ok(!rows.is_empty())
            })?;
            if !active {
                break;
            }
            self.progress.warn(&format!(
                "{name}: ended an earlier clone that still held slot {slot}"
            ));
            if Instant::now() > deadline {
                return Err(self.failed(
                    name,
                    format!("slot {slot} stays in use; is another clone of {name} running?"),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let marker = format!("{data_dir}.mirrorset-cloning");
        // The marker tells the next plan that a clone was interrupted. An
        // earlier one (left by such a clone) is not worth a kept copy.
        transport.write_file_atomic_no_backup(
            &marker,
            b"a mirrorset clone is in progress; if none runs, it was interrupted\n",
            0o600,
        )?;
        let prepare = transport.exec_as_postgres(RemoteCommand::new("sh").args([
            "-c",
            r#"mkdir -p -- "$1" && chmod 700 -- "$1""#,
            "mirrorset-mkdir",
            data_dir,
        ]))?;
        if !prepare.success() {
            return Err(self.failed(
                name,
                format!("cannot create {data_dir}: {}", prepare.failure_reason()),
            ));
        }
        let connection = replication_conninfo(self.cluster, node, primary, None);
        let command = RemoteCommand::new(format!("{}/pg_basebackup", node.postgres.bin_dir))
            .args([
                "-d",
                &connection,
                "-D",
                data_dir,
                "-X",
                "stream",
                "-S",
                slot,
                "-c",
                "fast",
                "-w",
                "--no-password",
                "-P",
            ])
            .timeout(Duration::from_secs(24 * 3600))
            // An apply stopped at once, or cut off from the node, leaves no
            // copy running into the data directory (nor its WAL streamer
            // holding the slot).
            .stop_when_abandoned();
        // pg_basebackup -P reports "done/total kB (NN%)"; shown every tenth.
        let shown = std::sync::atomic::AtomicU32::new(0);
        let on_progress = |chunk: &[u8]| {
            let text = String::from_utf8_lossy(chunk);
            if let Some((done_kb, total_kb, percent)) = last_progress(&text) {
                let last = shown.load(std::sync::atomic::Ordering::Relaxed);
                if percent >= last + 10 && percent < 100 {
                    shown.store(percent - percent % 10, std::sync::atomic::Ordering::Relaxed);
                    advance(&format!(
                        "cloned {percent}% ({} of {} MB)",
                        done_kb / 1024,
                        total_kb / 1024
                    ));
                }
            }
        };
        let output = transport.exec_as_postgres_streaming(command, &on_progress)?;
        if !output.success() {
            return Err(self.failed(
                name,
                format!(
                    "pg_basebackup from {from_host}:{from_port} failed: {}",
                    output.failure_reason()
                ),
            ));
        }
        // A whole copy of the primary must never start as a second primary,
        // even if this apply ends before its own standby.signal step.
        transport.write_file_atomic_no_backup(&format!("{data_dir}/standby.signal"), b"", 0o600)?;
        let rewind_failed = format!("{data_dir}.{REWIND_FAILED}");
        let removed = transport.exec_as_postgres(RemoteCommand::new("rm").args([
            "-f",
            "--",
            &marker,
            &rewind_failed,
        ]))?;
        if !removed.success() {
            return Err(self.failed(
                name,
                format!("cannot remove {marker}: {}", removed.failure_reason()),
            ));
        }
        Ok(note)
    }

    /// Waits until the mirror streams from `upstream`; reports the lag.
    fn wait_streaming(
        &self,
        name: &NodeName,
        upstream: &str,
    ) -> Result<Option<String>, ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let session = self.session(name);
        let upstream_host = self
            .cluster
            .node(&NodeName::new(upstream).map_err(|e| {
                self.failed(
                    name,
                    format!("the plan names an invalid node {upstream:?}: {e}"),
                )
            })?)
            .map(|n| n.host.as_str())
            .unwrap_or(upstream);
        let deadline = Instant::now() + self.options.wait_timeout;
        let upstream_name = NodeName::new(upstream).ok();
        let upstream_session = upstream_name
            .as_ref()
            .and_then(|n| self.sessions.get(n).zip(self.cluster.node(n)));
        let mut last;
        let mut looks = 0_u32;
        loop {
            if self.aborted.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ApplyError::Aborted {
                    node: name.clone(),
                    message: format!("stopped waiting to stream from {upstream}"),
                });
            }
            looks += 1;
            // Every 2 s: a primary that is gone will not come back by waiting.
            if looks % 8 == 0 {
                if let Some((upstream_session, upstream_node)) = upstream_session {
                    let answer = upstream_session.with_sql(&upstream_node.postgres, |sql| {
                        sql.query_one("SELECT 1", &[]).map(|_| ())
                    });
                    if let Err(error) = answer {
                        return Err(self.failed(
                            name,
                            format!(
                                "cannot stream: {upstream} does not answer ({error}); start it, then run apply again"
                            ),
                        ));
                    }
                }
            }
            let status = session.with_sql(&node.postgres, |sql| {
                let rows =
                    sql.query("SELECT status, sender_host FROM pg_stat_wal_receiver", &[])?;
                Ok(rows
                    .first()
                    .map(|row| (row.get::<_, String>(0), row.get::<_, Option<String>>(1))))
            });
            match status {
                // Right after a repoint the receiver may still be the old one.
                Ok(Some((status, host)))
                    if status == "streaming" && host.as_deref() == Some(upstream_host) =>
                {
                    break;
                }
                Ok(Some((status, host))) => {
                    last = format!(
                        "WAL receiver {status} from {}",
                        host.as_deref().unwrap_or("nowhere")
                    )
                }
                Ok(None) => last = "no WAL receiver".into(),
                // Waiting cannot bring back a node apply has lost.
                Err(error @ AccessError::Session { .. }) => return Err(error.into()),
                Err(error) => last = error.to_string(),
            }
            if Instant::now() > deadline {
                let cause = match self.last_log_errors(name).last() {
                    Some(line) => format!("; its log says: {line}"),
                    None => format!("; see {}", node.postgres.log_file),
                };
                return Err(self.failed(
                    name,
                    format!(
                        "not streaming from {upstream} after {}s ({last}){cause}",
                        self.options.wait_timeout.as_secs(),
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let primary = self.cluster.node(&self.cluster.primary).expect("validated");
        let lag = self.session(&primary.name).with_sql(&primary.postgres, |sql| {
            let rows = sql.query(
                "SELECT greatest(coalesce(pg_wal_lsn_diff(sent_lsn, replay_lsn), 0), 0)::bigint FROM pg_stat_replication WHERE application_name = $1",
                &[&name.as_str()],
            )?;
            Ok(rows.first().map(|row| row.get::<_, i64>(0)))
        });
        Ok(Some(match lag {
            Ok(Some(bytes)) => format!("streaming from {upstream}, {bytes} bytes behind"),
            Ok(None) | Err(AccessError::Sql { .. }) => format!("streaming from {upstream}"),
            Err(error) => return Err(error.into()),
        }))
    }
}

/// How long a role-change hook may run (an application's daemon stopping).
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

impl Applier<'_> {
    /// `[hooks] fence`, on this machine: the old primary must be cut off
    /// before `name` is promoted, or the promotion is refused.
    fn fence(
        &self,
        name: &NodeName,
        argv: &[String],
        old_node: &str,
        old_host: &str,
    ) -> Result<Option<String>, ApplyError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(self.failed(name, "the fence hook names no program"));
        };
        let output = std::process::Command::new(program)
            .args(args)
            .env("MIRRORSET_CLUSTER", self.cluster.name.as_str())
            .env("MIRRORSET_NODE", old_node)
            .env("MIRRORSET_HOST", old_host)
            .env("MIRRORSET_NEW_PRIMARY", name.as_str())
            .stdin(std::process::Stdio::null())
            .output();
        let refused = |why: String| {
            self.failed(
                name,
                format!(
                    "fencing {old_node} failed ({why}): {name} is not promoted, since {old_node} could still take writes; fence it by hand, then apply again"
                ),
            )
        };
        match output {
            Err(error) => Err(refused(format!("{program} could not run: {error}"))),
            Ok(output) if !output.status.success() => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                Err(refused(format!(
                    "{program} exited with {}{}",
                    output.status,
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!("; it said: {}", stderr.trim())
                    }
                )))
            }
            Ok(_) => Ok(Some(format!("{old_node} fenced"))),
        }
    }

    /// Ends a former replication role: its sessions, its pg_rewind grants,
    /// then the role itself, or only its login where objects depend on it
    /// (dropping those is never mirrorset's call).
    fn retire_role(&self, name: &NodeName, retired: &str) -> Result<Option<String>, ApplyError> {
        if retired == self.cluster.replication.user.as_str() {
            return Err(self.failed(name, format!("{retired} is the replication role")));
        }
        let node = self
            .cluster
            .node(name)
            .expect("planned nodes are in the cluster");
        let session = self.session(name);
        let role = quote_identifier(retired);
        let dependents = session.with_sql(&node.postgres, |sql| {
            let found = sql.query(
                "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
                &[&retired],
            )?;
            match found.first().map(|row| row.get::<_, bool>(0)) {
                None => return Ok(None),
                Some(true) => return Ok(Some(-1)),
                Some(false) => {}
            }
            sql.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
                &[&retired],
            )?;
            for function in crate::desired::REWIND_FUNCTIONS {
                sql.execute(
                    &format!("REVOKE EXECUTE ON FUNCTION {function} FROM {role}"),
                    &[],
                )?;
            }
            let count = sql.query_one(
                "SELECT count(*) FROM pg_shdepend WHERE refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1) AND refclassid = 'pg_authid'::regclass",
                &[&retired],
            )?;
            Ok(Some(count.get::<_, i64>(0)))
        })?;
        match dependents {
            None => Ok(Some(format!(
                "role {retired} does not exist; nothing to retire"
            ))),
            Some(-1) => Err(self.failed(
                name,
                format!("{retired} is a superuser now; mirrorset never drops one"),
            )),
            Some(0) => {
                session.with_sql(&node.postgres, |sql| {
                    sql.execute(&format!("DROP ROLE {role}"), &[])
                })?;
                Ok(None)
            }
            Some(count) => {
                session.with_sql(&node.postgres, |sql| {
                    sql.execute(&format!("ALTER ROLE {role} NOLOGIN PASSWORD NULL"), &[])
                })?;
                Ok(Some(format!(
                    "role {retired} kept as NOLOGIN without a password: {count} objects or privileges depend on it"
                )))
            }
        }
    }
}

fn slot_exists(
    session: &super::NodeSession,
    layout: &crate::model::PostgresLayout,
    slot: &str,
) -> Result<bool, AccessError> {
    session.with_sql(layout, |sql| {
        Ok(!sql
            .query(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )?
            .is_empty())
    })
}

/// The last "12345/67890 kB (18%)" in pg_basebackup's progress output.
fn last_progress(text: &str) -> Option<(u64, u64, u32)> {
    text.rsplit(['\r', '\n']).find_map(|line| {
        let (sizes, rest) = line.trim().split_once(" kB (")?;
        let (done, total) = sizes.split_once('/')?;
        let percent = rest.split('%').next()?;
        Some((
            done.trim().parse().ok()?,
            total.trim().parse().ok()?,
            percent.parse().ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_pg_basebackup_progress() {
        let chunk = "    0/30450 kB (0%), 0/1 tablespace\r15225/30450 kB (50%), 0/1 tablespace\r";
        assert_eq!(super::last_progress(chunk), Some((15225, 30450, 50)));
        assert_eq!(super::last_progress("waiting for checkpoint"), None);
    }
}
