//! The local transport: the node is the machine mirrorset runs on. Commands
//! run as child processes, as the PostgreSQL OS user through `runuser` when
//! mirrorset runs as root (or `sudo -n -u` otherwise). I/O.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::relay::relay_command;
use super::{AccessError, ExecOutput, RemoteCommand, Transport};
use crate::model::{Node, NodeName};

pub struct LocalTransport {
    node: NodeName,
    login_user: String,
    postgres_user: String,
}

/// The name of the user this process runs as.
pub fn current_user() -> String {
    // SAFETY: geteuid has no preconditions.
    user_name(unsafe { libc::geteuid() })
}

/// The login name of `uid` from /etc/passwd, or the number.
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

impl LocalTransport {
    pub fn new(node: &Node) -> Self {
        Self {
            node: node.name.clone(),
            login_user: current_user(),
            postgres_user: node.postgres.os_user.clone(),
        }
    }

    /// The argv to spawn: the user switch, then `timeout`, `env` and the program.
    fn argv(&self, command: &RemoteCommand) -> Vec<String> {
        let mut argv = Vec::new();
        match command.run_as.as_deref() {
            Some(user) if user != self.login_user && self.login_user == "root" => {
                argv.extend(["runuser", "-u", user, "--"].map(str::to_owned));
            }
            Some(user) if user != self.login_user => {
                argv.extend(["sudo", "-n", "-u", user, "--"].map(str::to_owned));
            }
            _ => {}
        }
        argv.extend(command.argv());
        argv
    }

    fn spawn(&self, command: &RemoteCommand) -> Result<Child, AccessError> {
        let argv = self.argv(command);
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| AccessError::Exec {
                node: self.node.clone(),
                program: command.program.clone(),
                reason: e.to_string(),
            })
    }
}

/// Copies until end of input or an error on either side.
fn copy(from: &mut impl Read, to: &mut impl Write) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 || to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
}

impl Transport for LocalTransport {
    fn node(&self) -> &NodeName {
        &self.node
    }

    fn postgres_user(&self) -> &str {
        &self.postgres_user
    }

    fn login_user(&self) -> &str {
        &self.login_user
    }

    fn exec_streaming(
        &self,
        command: &RemoteCommand,
        on_stderr: &(dyn Fn(&[u8]) + Sync),
    ) -> Result<ExecOutput, AccessError> {
        let mut child = self.spawn(command)?;
        let stdin_bytes = command
            .stdin
            .as_ref()
            .map(|s| s.expose().clone())
            .unwrap_or_default();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        // Threads so a full pipe in one direction never blocks the others.
        std::thread::scope(|scope| {
            let hold = command.stop_when_abandoned;
            let writer = scope.spawn(move || {
                let _ = stdin.write_all(&stdin_bytes);
                // Closed only once the command ended (or this process did).
                hold.then_some(stdin)
            });
            let out_reader = scope.spawn(move || {
                let mut bytes = Vec::new();
                let _ = stdout.read_to_end(&mut bytes);
                bytes
            });
            let err_reader = scope.spawn(move || {
                let mut bytes = Vec::new();
                let mut buffer = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    on_stderr(&buffer[..n]);
                    bytes.extend_from_slice(&buffer[..n]);
                }
                bytes
            });
            let deadline = Instant::now() + command.timeout + Duration::from_secs(15);
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break status,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(AccessError::Timeout {
                            node: self.node.clone(),
                            program: command.program.clone(),
                            seconds: command.timeout.as_secs(),
                        });
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                    Err(e) => {
                        return Err(AccessError::Exec {
                            node: self.node.clone(),
                            program: command.program.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            };
            drop(writer.join());
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            use std::os::unix::process::ExitStatusExt;
            Ok(ExecOutput {
                stdout,
                stderr,
                status: status.code(),
                signal: status.signal().map(|signal| signal.to_string()),
            })
        })
    }

    fn connect_unix(&self, path: &str) -> Result<UnixStream, AccessError> {
        let failed = |reason: String| AccessError::Sql {
            node: self.node.clone(),
            reason,
        };
        if self.login_user == self.postgres_user {
            return UnixStream::connect(path)
                .map_err(|e| failed(format!("cannot connect to {path}: {e}")));
        }
        // Peer authentication needs the PostgreSQL user on our end of the socket.
        let mut child = self.spawn(&relay_command(path).run_as(Some(&self.postgres_user)))?;
        let (ours, theirs) = UnixStream::pair().map_err(|e| failed(e.to_string()))?;
        let mut child_stdin = child.stdin.take().expect("stdin is piped");
        let mut child_stdout = child.stdout.take().expect("stdout is piped");
        let mut from_ours = ours.try_clone().map_err(|e| failed(e.to_string()))?;
        let mut to_ours = ours;
        // Plain read/write loops: std::io::copy would use splice(2), which
        // hangs between a Unix socket and a pipe here.
        std::thread::spawn(move || copy(&mut from_ours, &mut child_stdin));
        std::thread::spawn(move || {
            copy(&mut child_stdout, &mut to_ours);
            let _ = to_ours.shutdown(std::net::Shutdown::Both);
            let _ = child.wait();
        });
        Ok(theirs)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::transport::command::STOP_WHEN_ABANDONED;

    fn alive(pid: &str) -> bool {
        // A zombie is dead: PID 1 here may not reap.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[test]
    fn a_command_that_stops_when_abandoned_runs_to_its_end_while_the_caller_waits() {
        let transport = LocalTransport {
            node: NodeName::new("local").unwrap(),
            login_user: current_user(),
            postgres_user: current_user(),
        };
        let started = Instant::now();
        let output = transport
            .exec(
                &RemoteCommand::new("sh")
                    .args(["-c", "sleep 0.2; printf out; printf err >&2; exit 3"])
                    .stop_when_abandoned(),
            )
            .unwrap();
        assert_eq!(
            (output.stdout_text(), output.stderr_text(), output.status),
            ("out".to_owned(), "err".to_owned(), Some(3))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_watcher_ends_the_command_and_what_it_started_when_its_input_ends() {
        let mut watched = Command::new("sh")
            .args(["-c", STOP_WHEN_ABANDONED, "mirrorset-watch"])
            .args(["timeout", "60", "sh", "-c", "sleep 60 & echo $!; wait"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(watched.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild = line.trim().to_owned();
        assert!(alive(&grandchild));
        // The caller goes away.
        drop(watched.stdin.take());
        let started = Instant::now();
        let status = watched.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(status.code(), Some(143));
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&grandchild) {
            assert!(Instant::now() < deadline, "sleep {grandchild} outlived it");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
