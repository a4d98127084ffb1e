//! One function per subcommand: the only modules that both touch the outside
//! world (files, nodes, the terminal) and call the pure core.

mod check;
mod cluster_files;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub use cluster_files::cluster_files;

pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate { files } => validate::validate(&files),
        Command::Check { file, json, access } => check::check(&file, json, &access.options()),
        Command::Schema => {
            print!("{}", crate::config::cluster_schema_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}
