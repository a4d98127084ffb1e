//! The command line: subcommands and their options (clap derive). Pure.

use clap::{Parser, Subcommand};

/// Keep a PostgreSQL primary and its read-only mirrors in the shape a reviewed cluster.toml describes.
#[derive(Debug, Parser)]
#[command(name = "mirrorset", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check cluster files against every rule, without contacting any node.
    Validate {
        /// Cluster files, folders holding a cluster.toml, or globs such as 'clusters/*/cluster.toml'.
        #[arg(required = true, value_name = "FILE|DIR|GLOB")]
        files: Vec<String>,
    },
    /// Print the JSON schema of the cluster file (the one committed in schemas/).
    Schema,
}
