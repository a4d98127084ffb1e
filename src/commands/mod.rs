//! One function per subcommand: the only modules that both touch the outside
//! world (files, nodes, the terminal) and call the pure core.

mod apply;
mod check;
mod cluster_files;
mod demo;
mod history;
mod import;
mod plan;
mod promote;
mod status;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub use cluster_files::cluster_files;

pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate { files } => validate::validate(&files),
        Command::Check { file, json, access } => check::check(&file, json, &access.options()),
        Command::Plan {
            files,
            json,
            out,
            detailed_exitcode,
            target,
            allow_failover,
            access,
        } => plan::plan(
            &files,
            &plan::PlanOptions {
                json,
                out,
                detailed_exitcode,
                target,
                settings: crate::plan::PlanSettings {
                    allow_failover,
                    ..Default::default()
                },
            },
            &access.options(),
        ),
        Command::Show { plan, json } => plan::show(&plan, json),
        Command::Promote {
            node,
            file,
            no_plan,
            allow_failover,
            access,
        } => promote::promote(
            &node,
            &file,
            (!no_plan).then_some(crate::plan::PlanSettings {
                allow_failover,
                ..Default::default()
            }),
            &access.options(),
        ),
        Command::Demo { dir, down } => {
            demo::demo(&dir, down, &crate::transport::AccessOptions::default())
        }
        Command::Apply {
            target,
            auto_approve,
            lock_timeout,
            wait_timeout,
            allow_failover,
            access,
        } => apply::apply(
            &target,
            &apply::ApplyArgs {
                auto_approve,
                allow_failover,
                lock_timeout: std::time::Duration::from_secs(lock_timeout),
                wait_timeout: std::time::Duration::from_secs(wait_timeout),
            },
            &access.options(),
        ),
        Command::Status { file, json, access } => status::status(&file, json, &access.options()),
        Command::History {
            file,
            node,
            json,
            access,
        } => history::history(&file, node.as_deref(), json, &access.options()),
        Command::ForceUnlock { file, access } => apply::force_unlock(&file, &access.options()),
        Command::Facts { file, access } => {
            let cluster = one_cluster(&file)?;
            let observed = crate::facts::gather(&cluster, &access.options());
            println!(
                "{}",
                serde_json::to_string_pretty(&observed).expect("facts serialize")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            primary,
            name,
            pg_port,
            ssh_host,
            os_user,
            access,
        } => import::import(
            &import::ImportArgs {
                primary,
                name,
                pg_port,
                ssh_hosts: ssh_host,
                os_user,
            },
            &access.options(),
        ),
        Command::Schema => {
            print!("{}", crate::config::cluster_schema_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The one cluster a FILE|DIR argument names, validated.
pub fn one_cluster(file: &str) -> miette::Result<crate::model::Cluster> {
    Ok(crate::config::load(&one_cluster_file(file)?)?)
}

/// The path of the one cluster file a FILE|DIR argument names.
pub fn one_cluster_file(file: &str) -> miette::Result<std::path::PathBuf> {
    let paths = cluster_files(std::slice::from_ref(&file.to_owned()))?;
    match <[_; 1]>::try_from(paths) {
        Ok([path]) => Ok(path),
        Err(paths) => Err(miette::miette!(
            "expected one cluster file; {file:?} names {}",
            paths.len()
        )),
    }
}
