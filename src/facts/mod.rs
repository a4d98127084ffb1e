//! What is really on each node. `gather` reads every node for `plan` and
//! `probe` takes a quick look for `check` (I/O, through a transport);
//! `observed` holds what they found and `parse` reads what nodes print (pure).

/// The last FATAL or PANIC lines of the server log at `$log` (never ERROR:
/// those are clients' queries); the fact scripts and apply both read it so.
macro_rules! log_errors_pipeline {
    () => {
        r#"tail -c 65536 -- "$log" 2>/dev/null | grep -E '(FATAL|PANIC): ' | tail -n 3"#
    };
}
pub(crate) use log_errors_pipeline;

/// Shell lines both fact scripts run (with `$bin`, `$config` and `$log`
/// set): PostgreSQL's verdict on the configuration as a start would read
/// it (`postgres -C`, safe beside a running server), and the log's errors.
macro_rules! verdict_lines {
    () => {
        concat!(
            r#"if [ -x "$bin/postgres" ] && [ -f "$config/postgresql.conf" ]; then
  if ! rejected=$("$bin/postgres" -D "$config" -C data_directory 2>&1 >/dev/null); then printf 'config_rejected='; printf '%s' "$rejected" | base64 -w0; echo; fi
fi
if [ -r "$log" ]; then printf 'log_errors='; "#,
            $crate::facts::log_errors_pipeline!(),
            r#" | base64 -w0; echo; fi
"#
        )
    };
}
pub(crate) use verdict_lines;

pub mod discovery;
pub mod gather;
pub mod node_read;
pub mod observed;
pub mod parse;
pub mod probe;

pub use gather::{REWIND_FAILED, gather};
pub use observed::{DataDir, NodeFacts, Observed, Reached};
pub use probe::{NodeProbe, ObservedRole, ProbeProblem, probe_cluster};
