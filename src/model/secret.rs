//! The replication passphrase: where it comes from (`PassphraseSource`, safe
//! to print) and its value (`Secret`, which never prints). `resolve` does
//! I/O (environment, a local file, a local command) and only runs when a
//! command needs the value.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Serialize;

/// What every rendering of a secret shows instead of the value.
pub const REDACTED: &str = "(sensitive)";

/// A value that must never reach output, logs, plans or process arguments.
/// Debug, Display and Serialize all print `(sensitive)`; `expose` is the
/// one door to the value, so every use of it is easy to find and review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Secrets are read back from fact fixtures; real runs never serialize one.
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// Where the passphrase is read from. The cluster file holds only this
/// reference, never the value, because the file is meant for version control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassphraseSource {
    /// An environment variable of the operator's shell.
    Env(String),
    /// A local file (relative paths are resolved against the cluster file's folder).
    File(PathBuf),
    /// A local program and its arguments whose standard output is the
    /// passphrase, stopped when it runs longer than `timeout`.
    Command {
        argv: Vec<String>,
        timeout: super::GucDuration,
    },
}

/// Why the passphrase could not be read. Never contains the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the environment variable {0} that holds the replication passphrase is not set")]
    EnvMissing(String),
    #[error("the environment variable {0} that holds the replication passphrase is empty")]
    EnvEmpty(String),
    #[error("cannot read the passphrase file {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    #[error(
        "the passphrase file {path} can be read by other users (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    FileWorldReadable { path: PathBuf, mode: u32 },
    #[error("the passphrase file {0} is empty")]
    FileEmpty(PathBuf),
    #[error("the passphrase command `{program}` could not run: {reason}")]
    CommandFailed { program: String, reason: String },
    #[error(
        "the passphrase command `{program}` did not finish within {seconds} s and was stopped (it runs with no input: does it wait for a PIN or the network?){stderr}"
    )]
    CommandTimedOut {
        program: String,
        seconds: u64,
        stderr: String,
    },
    #[error("the passphrase command `{program}` printed nothing")]
    CommandEmpty { program: String },
    #[error(
        "the passphrase from {source_name} holds {what}, which libpq's passfile cannot carry (it reads one line per entry): mirrors could not log in; \
         choose a passphrase without line breaks or NUL (a file or command loses exactly one trailing newline)"
    )]
    Uncarriable { source_name: String, what: String },
}

impl PassphraseSource {
    /// Reads the passphrase. One trailing newline is dropped (files and
    /// commands like `pass show` end with one); the value is otherwise kept
    /// as is, and refused when the passfile could not carry it.
    pub fn resolve(&self) -> Result<Secret<String>, SecretError> {
        match self {
            Self::Command { timeout, .. } => self.resolve_within(timeout.as_duration()),
            _ => self.resolve_within(COMMAND_TIMEOUT),
        }
    }

    /// A command source with the default time limit.
    pub fn command(argv: Vec<String>) -> Self {
        Self::Command {
            argv,
            timeout: super::GucDuration::from_duration(COMMAND_TIMEOUT),
        }
    }

    /// `resolve`, with a command stopped after `timeout`.
    pub fn resolve_within(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Secret<String>, SecretError> {
        let secret = self.read(timeout)?;
        let what = secret.expose().chars().find_map(|c| match c {
            '\n' | '\r' => Some("a line break"),
            '\0' => Some("a NUL character"),
            _ => None,
        });
        match what {
            None => Ok(secret),
            Some(what) => Err(SecretError::Uncarriable {
                source_name: match self {
                    Self::Env(name) => format!("the environment variable {name}"),
                    Self::File(path) => format!("the file {}", path.display()),
                    Self::Command { argv, .. } => {
                        format!(
                            "the command `{}`",
                            argv.first().cloned().unwrap_or_default()
                        )
                    }
                },
                what: what.to_owned(),
            }),
        }
    }

    fn read(&self, timeout: std::time::Duration) -> Result<Secret<String>, SecretError> {
        match self {
            Self::Env(name) => match std::env::var(name) {
                Err(_) => Err(SecretError::EnvMissing(name.clone())),
                Ok(value) if value.is_empty() => Err(SecretError::EnvEmpty(name.clone())),
                Ok(value) => Ok(Secret::new(value)),
            },
            Self::File(path) => {
                let unreadable = |error: std::io::Error| SecretError::FileUnreadable {
                    path: path.clone(),
                    reason: error.to_string(),
                };
                let mode = std::fs::metadata(path)
                    .map_err(unreadable)?
                    .permissions()
                    .mode();
                if mode & 0o004 != 0 {
                    return Err(SecretError::FileWorldReadable {
                        path: path.clone(),
                        mode: mode & 0o7777,
                    });
                }
                let value = std::fs::read_to_string(path).map_err(unreadable)?;
                let value = without_trailing_newline(value);
                if value.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                Ok(Secret::new(value))
            }
            Self::Command { argv, .. } => {
                let program = argv.first().cloned().unwrap_or_default();
                let failed = |reason: String| SecretError::CommandFailed {
                    program: program.clone(),
                    reason,
                };
                // No input (nothing can wait on a terminal that is not
                // there), a time limit, and its stderr kept to say why it
                // failed; its stdout is the secret and is never echoed.
                // Its own process group, so that a timeout ends what it started too.
                let mut child = Command::new(&program)
                    .args(&argv[1..])
                    .process_group(0)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|error| failed(error.to_string()))?;
                let read_all = |pipe: Option<Box<dyn Read + Send>>| {
                    std::thread::spawn(move || {
                        let mut text = String::new();
                        if let Some(mut pipe) = pipe {
                            let _ = pipe.read_to_string(&mut text);
                        }
                        text
                    })
                };
                let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as _));
                let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as _));
                let deadline = std::time::Instant::now() + timeout;
                let status = loop {
                    match child
                        .try_wait()
                        .map_err(|error| failed(error.to_string()))?
                    {
                        Some(status) => break status,
                        None if std::time::Instant::now() > deadline => {
                            // The whole group: what it started holds its pipes open.
                            let _ = Command::new("kill")
                                .args(["-KILL", "--", &format!("-{}", child.id())])
                                .stderr(Stdio::null())
                                .status();
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err(SecretError::CommandTimedOut {
                                program,
                                seconds: timeout.as_secs(),
                                stderr: said(stderr.join().unwrap_or_default()),
                            });
                        }
                        None => std::thread::sleep(std::time::Duration::from_millis(20)),
                    }
                };
                let value = stdout.join().unwrap_or_default();
                let stderr = said(stderr.join().unwrap_or_default());
                if !status.success() {
                    return Err(failed(format!("it exited with {status}{stderr}")));
                }
                let value = without_trailing_newline(value);
                if value.is_empty() {
                    return Err(SecretError::CommandEmpty { program });
                }
                Ok(Secret::new(value))
            }
        }
    }
}

/// How long a passphrase command may run: a vault CLI waiting on the
/// network, or `pass` waiting for a pinentry nobody sees, must not hang plan.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A command's stderr, for an error message: "; it said: …" or nothing.
fn said(stderr: String) -> String {
    let text = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        let text: String = text.chars().take(400).collect();
        format!("; it said: {text}")
    }
}

fn without_trailing_newline(mut value: String) -> String {
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret}"), "(sensitive)");
        assert_eq!(format!("{secret:?}"), "(sensitive)");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"(sensitive)\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn command_output_is_the_secret_without_its_newline() {
        let source = PassphraseSource::command(vec!["printf".into(), "s3cret\\n".into()]);
        assert_eq!(source.resolve().unwrap().expose(), "s3cret");
    }

    #[test]
    fn a_failing_command_is_named_with_what_it_said_on_stderr() {
        let source = PassphraseSource::command(vec![
            "sh".into(),
            "-c".into(),
            "read -r line; echo \"vault: permission denied\" >&2; exit 2".into(),
        ]);
        let error = source.resolve().unwrap_err().to_string();
        assert!(
            error.contains("`sh`") && error.contains("it said: vault: permission denied"),
            "{error}"
        );
    }

    #[test]
    fn a_command_that_never_returns_is_stopped() {
        let source = PassphraseSource::command(vec![
            "sh".into(),
            "-c".into(),
            "echo waiting for a pinentry >&2; sleep 30".into(),
        ]);
        let error = source
            .resolve_within(std::time::Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("did not finish within") && error.contains("waiting for a pinentry"),
            "{error}"
        );
    }

    #[test]
    fn failures_never_echo_the_value() {
        let source =
            PassphraseSource::command(vec!["sh".into(), "-c".into(), "echo leaked; exit 3".into()]);
        let error = source.resolve().unwrap_err().to_string();
        assert!(error.contains("exited with exit status: 3"), "{error}");
        assert!(!error.contains("leaked"));

        let error = PassphraseSource::Env("MIRRORSET_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert_eq!(
            error,
            SecretError::EnvMissing("MIRRORSET_TEST_SURELY_UNSET".into())
        );
    }

    #[test]
    fn a_passphrase_the_passfile_cannot_carry_is_refused() {
        let inner = PassphraseSource::command(vec!["printf".into(), "one\\ntwo".into()]);
        let error = inner.resolve().unwrap_err().to_string();
        assert!(error.contains("holds a line break"), "{error}");
        assert!(!error.contains("two"), "{error}");
        // Exactly one trailing newline goes; a second one stays and is refused.
        let two = PassphraseSource::command(vec!["printf".into(), "s3cret\\n\\n".into()]);
        assert!(matches!(
            two.resolve(),
            Err(SecretError::Uncarriable { .. })
        ));
        let crlf = PassphraseSource::command(vec!["printf".into(), "s3cret\\r\\n".into()]);
        assert_eq!(crlf.resolve().unwrap().expose(), "s3cret");
    }

    #[test]
    fn world_readable_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("mirrorset-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passphrase");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let source = PassphraseSource::File(path.clone());
        assert!(matches!(
            source.resolve(),
            Err(SecretError::FileWorldReadable { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(source.resolve().unwrap().expose(), "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
