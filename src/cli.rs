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
    /// Read every node and show what apply would change, as diffs; changes nothing.
    Plan {
        /// Cluster files, folders holding a cluster.toml, or globs.
        #[arg(required = true, value_name = "FILE|DIR|GLOB")]
        files: Vec<String>,
        /// Print the plan as JSON (format in schemas/plan.schema.json).
        #[arg(long)]
        json: bool,
        /// Save the plan as JSON for `mirrorset show` (and `apply`); it names no secret.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<std::path::PathBuf>,
        /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan only the nodes whose names match this glob (the rest may still differ).
        #[arg(long, value_name = "GLOB")]
        target: Option<String>,
        /// Plan the promotion of the named primary although the old primary is unreachable (or crashed) and cannot be stopped first.
        #[arg(long)]
        allow_failover: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Make the changes `plan` shows: plans, shows the plan and asks for `yes`; or applies a saved plan if it is still current.
    Apply {
        /// A cluster file (or folder), or a plan saved with `plan --out`.
        #[arg(value_name = "FILE|DIR|PLAN.json")]
        target: String,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Seconds to wait for another apply's lock on a node.
        #[arg(long, value_name = "SECONDS", default_value_t = 180)]
        lock_timeout: u64,
        /// Seconds to wait for a started mirror to stream.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        wait_timeout: u64,
        /// Promote the named primary although the old primary is unreachable (or crashed) and cannot be stopped first: the split-brain risk is yours.
        #[arg(long)]
        allow_failover: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Per node: role, state, upstream, timeline, WAL position, lag, slot, and whether plan would change it.
    Status {
        #[arg(value_name = "FILE|DIR")]
        file: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Every node's audit log merged in time order: what each apply did, step by step, and how it ended.
    History {
        #[arg(value_name = "FILE|DIR")]
        file: String,
        /// Only the records of this node.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Remove the apply locks of a cluster's nodes, whoever holds them (after an apply died).
    ForceUnlock {
        #[arg(value_name = "FILE|DIR")]
        file: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Build a local three-node cluster (PostgreSQL on 127.0.0.1:5501-5503) and converge it: plan, apply, status.
    Demo {
        /// Where the demo's servers and cluster.toml live.
        #[arg(long, value_name = "DIR", default_value = "/tmp/mirrorset-demo")]
        dir: std::path::PathBuf,
        /// Stop the demo's servers and remove its folder.
        #[arg(long)]
        down: bool,
    },
    /// Make NODE the primary in the cluster file (only that value changes, comments and formatting stay), then show the plan of the switchover.
    Promote {
        /// The member to promote.
        #[arg(value_name = "NODE")]
        node: String,
        #[arg(value_name = "FILE|DIR")]
        file: String,
        /// Only edit the file; do not contact the nodes.
        #[arg(long)]
        no_plan: bool,
        /// Plan a failover if the current primary is unreachable (see `plan --allow-failover`).
        #[arg(long)]
        allow_failover: bool,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Show a plan saved with `plan --out`.
    Show {
        #[arg(value_name = "PLAN.json")]
        plan: std::path::PathBuf,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print what mirrorset reads from every node, as JSON (secrets shown as "(sensitive)"); changes nothing.
    Facts {
        #[arg(value_name = "FILE|DIR")]
        file: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Log in to a running primary and its mirrors, and print a cluster file that describes them (reads only).
    Import {
        /// The primary's SSH login: [user@]host[:port]. Its mirrors are found from it.
        #[arg(value_name = "[USER@]HOST[:PORT]")]
        primary: String,
        /// The cluster's name. Default: the primary's cluster_name setting, else "imported".
        #[arg(long)]
        name: Option<String>,
        /// The primary server's port, when its machine runs several.
        #[arg(long, value_name = "PORT")]
        pg_port: Option<u16>,
        /// Log in to the member at ADDRESS (as the primary sees it) through SSH_HOST instead.
        #[arg(long, value_name = "ADDRESS=SSH_HOST")]
        ssh_host: Vec<String>,
        /// The OS user PostgreSQL runs as on the nodes.
        #[arg(long, value_name = "USER", default_value = "postgres")]
        os_user: String,
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
    /// Seconds to wait for a node's SSH server to answer. Default: ssh_config's ConnectTimeout, else 10.
    #[arg(long, value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,
}

impl AccessArgs {
    pub fn options(&self) -> crate::transport::AccessOptions {
        crate::transport::AccessOptions {
            connect_timeout: self
                .connect_timeout
                .map(|seconds| std::time::Duration::from_secs(seconds.max(1))),
            accept_new_host_keys: self.accept_new_host_keys,
        }
    }
}
