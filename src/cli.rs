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
    /// Reach every node: SSH and host key, PostgreSQL binaries, server state and role, and whether each mirror reaches the primary.
    Check {
        /// The cluster file (or a folder holding a cluster.toml).
        #[arg(value_name = "FILE|DIR")]
        file: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Print the JSON schema of the cluster file (the one committed in schemas/).
    Schema,
}

/// How to reach nodes; shared by every command that contacts them.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    /// Trust host keys not yet in known_hosts and add them (like OpenSSH's accept-new). A changed key is always refused.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for a node's SSH server to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,
}

impl AccessArgs {
    pub fn options(&self) -> crate::transport::AccessOptions {
        crate::transport::AccessOptions {
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout.max(1)),
            accept_new_host_keys: self.accept_new_host_keys,
        }
    }
}
