//! A program to run on a node, as data: program, arguments, environment,
//! standard input, timeout, the user to run it as, and whether it ends when
//! the caller goes away. Rendered to one shell line with every word quoted,
//! so no argument can ever be read as shell syntax. Pure.

use std::fmt;
use std::time::Duration;

use crate::model::Secret;

/// How long a command may run unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct RemoteCommand {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Bytes written to the program's standard input; a secret travels here, never in arguments.
    pub stdin: Option<Secret<Vec<u8>>>,
    pub timeout: Duration,
    /// Run as this OS user (`sudo -n -u` over SSH, `runuser` locally) when it is not the login user.
    pub run_as: Option<String>,
    /// Ended on the node, with every process it started, when the caller
    /// goes away (the caller exits, or its SSH connection drops): run under
    /// `STOP_WHEN_ABANDONED`, its standard input held open by the transport
    /// until it ends. Its own standard input is then /dev/null (`stdin` is
    /// not for such a command).
    pub stop_when_abandoned: bool,
}

/// Runs "$@" with its standard input (the SSH channel, or the local
/// caller's pipe) watched: the transport never closes it while it waits, so
/// its end means the caller is gone, and the command's process group is
/// ended. `timeout`, the first word of every command, leads its own group,
/// so a pg_basebackup and the WAL streamer it forks go together. Whatever
/// the command leaves in its group when it ends (that streamer, when
/// pg_basebackup itself was killed) is ended too.
pub const STOP_WHEN_ABANDONED: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
child=$!
{ cat >/dev/null; kill -s TERM -- "-$child" "$child"; } <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill -s TERM "$watcher" 2>/dev/null
kill -s TERM -- "-$child" 2>/dev/null
exit "$status""#;

impl RemoteCommand {
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            run_as: None,
            stop_when_abandoned: false,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(Secret::new(bytes));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// See `stop_when_abandoned`: for long programs (pg_basebackup) that
    /// must not outlive an apply stopped at once or cut off.
    pub fn stop_when_abandoned(mut self) -> Self {
        self.stop_when_abandoned = true;
        self
    }

    pub fn run_as(mut self, user: Option<&str>) -> Self {
        self.run_as = user.map(str::to_owned);
        self
    }

    /// The words to execute, after the user switch: the watcher when the
    /// command stops when abandoned, then `timeout`, `env` and the program.
    /// `timeout` runs on the node so a hung program is killed there, not just abandoned.
    pub fn argv(&self) -> Vec<String> {
        let seconds = self.timeout.as_secs().max(1);
        let mut argv = Vec::new();
        if self.stop_when_abandoned {
            argv.extend(["sh", "-c", STOP_WHEN_ABANDONED, "mirrorset-watch"].map(str::to_owned));
        }
        argv.extend([
            "timeout".to_owned(),
            "--kill-after=5".to_owned(),
            seconds.to_string(),
        ]);
        if !self.env.is_empty() {
            argv.push("env".to_owned());
            argv.extend(
                self.env
                    .iter()
                    .map(|(name, value)| format!("{name}={value}")),
            );
        }
        argv.push(self.program.clone());
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// One shell line for an SSH exec request, every word quoted.
    pub fn shell_line(&self) -> String {
        let mut words = Vec::new();
        if let Some(user) = &self.run_as {
            words.extend(["sudo", "-n", "-u", user.as_str(), "--"].map(str::to_owned));
        }
        words.extend(self.argv());
        words
            .iter()
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Debug for RemoteCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCommand")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("run_as", &self.run_as)
            .field("stop_when_abandoned", &self.stop_when_abandoned)
            .field("stdin", &self.stdin.as_ref().map(|_| "(sensitive)"))
            .finish()
    }
}

/// Quotes `word` for a POSIX shell: bare when it is plainly safe, otherwise
/// in single quotes with each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("pg_ctl"), "pg_ctl");
        assert_eq!(
            shell_quote("/var/lib/postgresql/15/main"),
            "/var/lib/postgresql/15/main"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote("x;y"), "'x;y'");
    }

    #[test]
    fn shell_line_switches_user_and_bounds_time() {
        let command = RemoteCommand::new("pg_isready")
            .args(["-h", "/run/postgresql"])
            .env("PGCONNECT_TIMEOUT", "5")
            .timeout(Duration::from_secs(30))
            .run_as(Some("postgres"));
        assert_eq!(
            command.shell_line(),
            "sudo -n -u postgres -- timeout --kill-after=5 30 env PGCONNECT_TIMEOUT=5 pg_isready -h /run/postgresql"
        );
    }

    #[test]
    fn a_command_that_stops_when_abandoned_runs_under_the_fixed_watcher() {
        let command = RemoteCommand::new("pg_basebackup")
            .args(["-D", "/data dir"])
            .timeout(Duration::from_secs(60))
            .stop_when_abandoned()
            .run_as(Some("postgres"));
        assert_eq!(
            command.argv(),
            [
                "sh",
                "-c",
                STOP_WHEN_ABANDONED,
                "mirrorset-watch",
                "timeout",
                "--kill-after=5",
                "60",
                "pg_basebackup",
                "-D",
                "/data dir"
            ]
        );
        assert!(
            command
                .shell_line()
                .starts_with("sudo -n -u postgres -- sh -c 'exec 3<&0")
        );
        assert!(
            command.shell_line().ends_with(
                " mirrorset-watch timeout --kill-after=5 60 pg_basebackup -D '/data dir'"
            )
        );
    }

    #[test]
    fn stdin_is_never_in_debug_output() {
        let command = RemoteCommand::new("cat").stdin(b"s3cret".to_vec());
        assert!(!format!("{command:?}").contains("s3cret"));
        assert!(!command.shell_line().contains("s3cret"));
    }
}
