//! What is really on each node. `gather` reads every node for `plan` and
//! `probe` takes a quick look for `check` (I/O, through a transport);
//! `observed` holds what they found and `parse` reads what nodes print (pure).

/// Shell lines both fact scripts run (with `$bin`, `$config` and `$log`
/// set): PostgreSQL's verdict on the configuration as a start would read
/// it (`postgres -C`, safe beside a running server), and the last FATAL or
/// PANIC lines of the server log (never ERROR: those are clients' queries).
macro_rules! verdict_lines {
    () => {
        r#"if [ -x "$bin/postgres" ] && [ -f "$config/postgresql.conf" ]; then
  if ! rejected=$("$bin/postgres" -D "$config" -C data_directory 2>&1 >/dev/null); then printf 'config_rejected='; printf '%s' "$rejected" | base64 -w0; echo; fi
fi
if [ -r "$log" ]; then printf 'log_errors='; tail -c 65536 -- "$log" | grep -E '(FATAL|PANIC): ' | tail -n 3 | base64 -w0; echo; fi
"#
    };
}
pub(crate) use verdict_lines;

pub mod gather;
pub mod observed;
pub mod parse;
pub mod probe;

pub use gather::{REWIND_FAILED, gather};
pub use observed::{DataDir, NodeFacts, Observed, Reached};
pub use probe::{NodeProbe, ObservedRole, ProbeProblem, probe_cluster};
