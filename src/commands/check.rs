//! `mirrorset check`: probes every node of one cluster at once and prints a
//! table (or JSON); exit 1 when any node fails. I/O.

use std::process::ExitCode;

use super::one_cluster;
use crate::facts::probe_cluster;
use crate::render::{check_json, check_text};
use crate::transport::AccessOptions;

pub fn check(file: &str, json: bool, options: &AccessOptions) -> miette::Result<ExitCode> {
    let cluster = one_cluster(file)?;
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
