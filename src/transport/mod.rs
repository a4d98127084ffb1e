//! The one way mirrorset touches a node: run a program, read, stat, move
//! and atomically write files, and open a byte stream to PostgreSQL's
//! socket, over SSH (one session per node, reused) or locally. I/O.

mod command;
mod error;
mod fan_out;
mod file_ops;
mod host_key;
mod host_pattern;
mod known_hosts;
mod local;
mod relay;
mod route;
mod sql;
mod ssh;
mod ssh_config;

use std::os::unix::net::UnixStream;
use std::time::Duration;

pub use command::{DEFAULT_TIMEOUT, RemoteCommand, shell_quote};
pub use error::{AccessError, HostCertificateOnly};
pub use fan_out::{DEFAULT_CONCURRENCY, fan_out};
pub use file_ops::{FileStat, WriteOutcome, utc_stamp};
pub use local::{LocalTransport, current_user, user_name};
pub use sql::SqlSession;
pub use ssh::SshTransport;

use crate::model::{Access, Node, NodeName};

/// What a program printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code, when the program exited.
    pub status: Option<i32>,
    /// The signal that killed it, when one did (ssh2 reports status 0 then).
    pub signal: Option<String>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0) && self.signal.is_none()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim_end().to_owned()
    }

    /// "exit status 3: <the last lines of stderr>", for error messages.
    pub fn failure_reason(&self) -> String {
        let how = match (&self.signal, self.status) {
            (Some(signal), _) => format!("killed by signal {signal}"),
            (None, Some(status)) => format!("exit status {status}"),
            (None, None) => "no exit status".to_owned(),
        };
        // The cause is often a line or two before the last one (pg_basebackup
        // ends with "removing contents of data directory").
        let stderr = self.stderr_text();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
        if tail.is_empty() {
            how
        } else {
            format!("{how}: {tail}")
        }
    }
}

/// A node as mirrorset reaches it. Implementations differ only in how bytes
/// get there; files and SQL are built on `exec` and `connect_unix`.
pub trait Transport: Send + Sync {
    fn node(&self) -> &NodeName;

    /// The OS user PostgreSQL runs as; file operations and SQL run as this user.
    fn postgres_user(&self) -> &str;

    /// The OS user mirrorset is logged in as on the node (the SSH user, or
    /// the local user); hooks run as this user.
    fn login_user(&self) -> &str;

    /// Runs `command` to completion (or its timeout) and returns what it printed.
    fn exec(&self, command: &RemoteCommand) -> Result<ExecOutput, AccessError> {
        self.exec_streaming(command, &|_| {})
    }

    /// Like `exec`, handing each piece of standard error to `on_stderr` as it
    /// arrives (progress of long programs such as pg_basebackup).
    fn exec_streaming(
        &self,
        command: &RemoteCommand,
        on_stderr: &(dyn Fn(&[u8]) + Sync),
    ) -> Result<ExecOutput, AccessError>;

    /// A byte stream to the Unix socket at `path` on the node, opened as the PostgreSQL OS user.
    fn connect_unix(&self, path: &str) -> Result<UnixStream, AccessError>;

    /// Runs `command` as the PostgreSQL OS user, streaming its standard error to `on_stderr`.
    fn exec_as_postgres_streaming(
        &self,
        command: RemoteCommand,
        on_stderr: &(dyn Fn(&[u8]) + Sync),
    ) -> Result<ExecOutput, AccessError> {
        let user = self.postgres_user().to_owned();
        self.exec_streaming(&command.run_as(Some(&user)), on_stderr)
    }

    /// Runs `command` as the PostgreSQL OS user.
    fn exec_as_postgres(&self, command: RemoteCommand) -> Result<ExecOutput, AccessError> {
        let user = self.postgres_user().to_owned();
        self.exec(&command.run_as(Some(&user)))
    }

    /// The file's bytes, or None when it does not exist. Read as the PostgreSQL OS user.
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, AccessError> {
        file_ops::read_file(self, path)
    }

    /// Mode, owner and size, or None when nothing is at `path`.
    fn stat(&self, path: &str) -> Result<Option<FileStat>, AccessError> {
        file_ops::stat(self, path)
    }

    /// Replaces the file in one rename (temp file in the same folder, fsync,
    /// rename, fsync of the folder), keeping owner and mode, and keeping the
    /// previous version beside it as `<name>.mirrorset-<UTC time>`. A new file
    /// gets `new_mode`. Written as the PostgreSQL OS user.
    fn write_file_atomic(
        &self,
        path: &str,
        contents: &[u8],
        new_mode: u32,
    ) -> Result<WriteOutcome, AccessError> {
        file_ops::write_file_atomic(self, path, contents, new_mode, file_ops::Previous::Keep)
    }

    /// Like `write_file_atomic` without the copy of the previous version,
    /// and with the copies earlier runs kept removed: for a file that holds
    /// a secret (a passfile, a TLS key: an old secret must not stay
    /// behind) and for an empty marker (standby.signal).
    fn write_file_atomic_no_backup(
        &self,
        path: &str,
        contents: &[u8],
        new_mode: u32,
    ) -> Result<WriteOutcome, AccessError> {
        file_ops::write_file_atomic(self, path, contents, new_mode, file_ops::Previous::Discard)
    }

    /// Renames `path` to `<path>.mirrorset-moved-<UTC time>` and returns the
    /// new name, or None when nothing is there. Never deletes.
    fn move_aside(&self, path: &str) -> Result<Option<String>, AccessError> {
        file_ops::move_aside(self, path)
    }
}

/// Options for reaching nodes, from the command line.
#[derive(Debug, Clone, Default)]
pub struct AccessOptions {
    /// `--connect-timeout`; None: ssh_config's ConnectTimeout, else 10 s.
    pub connect_timeout: Option<Duration>,
    /// Trust and record unknown host keys, like OpenSSH's `StrictHostKeyChecking=accept-new`.
    pub accept_new_host_keys: bool,
}

/// Opens the node's transport as the cluster file says: an SSH session or local access.
pub fn open(node: &Node, options: &AccessOptions) -> Result<Box<dyn Transport>, AccessError> {
    Ok(match node.access {
        Access::Ssh => Box::new(SshTransport::connect(node, options)?),
        Access::Local => Box::new(LocalTransport::new(node)),
    })
}
