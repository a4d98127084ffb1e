//! `mirrorset check`: probes every node of one cluster at once and prints a
//! table (or JSON); exit 1 when any node fails. I/O.

use std::process::ExitCode;

use super::cluster_files;
use crate::config;
use crate::facts::probe_cluster;
use crate::render::{check_json, check_text};
use crate::transport::AccessOptions;

pub fn check(file: &str, json: bool, options: &AccessOptions) -> miette::Result<ExitCode> {
    let paths = cluster_files(std::slice::from_ref(&file.to_owned()))?;
    let [path] = paths.as_slice() else {
        return Err(miette::miette!(
            "check takes one cluster file; {file:?} names {}",
            paths.len()
        ));
    };
    let cluster = config::load(path)?;
    let probes = probe_cluster(&cluster, options);
    if json {
        print!("{}", check_json(&cluster.name, &probes));
    } else {
        print!("{}", check_text(&cluster.name, &probes));
    }
    Ok(if probes.iter().all(|probe| probe.ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
