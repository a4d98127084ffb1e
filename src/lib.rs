//! mirrorset keeps a PostgreSQL primary and its read-only mirrors in the
//! shape a reviewed `cluster.toml` describes.
//!
//! The pipeline, each stage its own module:
//! `config` reads the file into a `model::Cluster`; `facts` gathers what is
//! really on each node (I/O); `desired` computes what should be there (pure);
//! `plan` compares the two into a `Plan` (pure); `render` shows a plan as text
//! or JSON; `apply` executes it through a `transport`. `commands` wires the
//! stages together for each subcommand and is the only place that does both
//! I/O and calls the pure core.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod desired;
pub mod facts;
pub mod model;
pub mod plan;
pub mod render;
pub mod transport;

use std::process::ExitCode;

/// Runs one invocation; the binary's `main` is only this and error reporting.
pub fn run(cli: cli::Cli) -> miette::Result<ExitCode> {
    commands::run(cli)
}
