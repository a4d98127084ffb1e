//! A builder that runs the real binary and compares exact output, in the
//! style of casey/just's test harness.

use std::path::PathBuf;
use std::process::Command;

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

#[must_use]
pub struct Test {
    args: Vec<String>,
    env: Vec<(String, String)>,
    removed_env: Vec<String>,
    current_dir: PathBuf,
    expected_status: i32,
    expected_stdout: Option<String>,
    expected_stderr: Option<String>,
}

impl Test {
    pub fn new() -> Self {
        Self {
            args: Vec::new(),
            env: vec![("NO_COLOR".into(), "1".into())],
            removed_env: Vec::new(),
            current_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            expected_status: 0,
            expected_stdout: None,
            expected_stderr: None,
        }
    }

    pub fn args<const N: usize>(mut self, args: [&str; N]) -> Self {
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.removed_env.push(name.to_owned());
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.expected_status = status;
        self
    }

    pub fn stdout(mut self, stdout: &str) -> Self {
        self.expected_stdout = Some(stdout.to_owned());
        self
    }

    pub fn stderr(mut self, stderr: &str) -> Self {
        self.expected_stderr = Some(stderr.to_owned());
        self
    }

    /// Runs the binary and checks status and any expected output exactly.
    pub fn run(self) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mirrorset"));
        for name in &self.removed_env {
            command.env_remove(name);
        }
        let output = command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.current_dir)
            .output()
            .expect("the mirrorset binary runs");
        let output = Output {
            status: output
                .status
                .code()
                .expect("mirrorset is not killed by a signal"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        assert_eq!(
            output.status, self.expected_status,
            "exit status of mirrorset {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args, output.stdout, output.stderr
        );
        if let Some(expected) = &self.expected_stdout {
            pretty_assertions_eq(&output.stdout, expected, "stdout");
        }
        if let Some(expected) = &self.expected_stderr {
            pretty_assertions_eq(&output.stderr, expected, "stderr");
        }
        output
    }
}

fn pretty_assertions_eq(actual: &str, expected: &str, what: &str) {
    if actual != expected {
        panic!("{what} differs\n--- expected\n{expected}\n--- actual\n{actual}\n---");
    }
}

/// Sets its flag when dropped, so a watcher thread stops even when the
/// code it watches panics (a scoped thread that never stops hangs the test).
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A rendered report as one line: miette wraps long messages and marks
/// continuation lines with `│`, which would split the words a test looks for.
pub fn flatten(report: &str) -> String {
    report
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
