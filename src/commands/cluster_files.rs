//! Turns the cluster-file arguments (files, folders, globs) into paths.
//! I/O: lists the local file system.

use std::path::PathBuf;

use miette::{Result, miette};

/// The file a folder argument stands for.
pub const CLUSTER_FILE_NAME: &str = "cluster.toml";

/// Each argument as a path: a glob expands to its sorted matches (an error
/// if none), a folder to the cluster.toml inside it, anything else as is.
pub fn cluster_files(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for arg in args {
        if arg.contains(['*', '?', '[']) {
            let matches = glob::glob(arg).map_err(|error| {
                miette!(
                    code = "cli::bad_glob",
                    "{arg:?} is not a valid glob: {error}"
                )
            })?;
            let mut found: Vec<PathBuf> = matches.filter_map(|entry| entry.ok()).collect();
            if found.is_empty() {
                return Err(miette!(
                    code = "cli::no_match",
                    help = "quote the glob so the shell does not expand it, and check the folder",
                    "no file matches {arg:?}"
                ));
            }
            found.sort();
            paths.extend(found.into_iter().map(|path| {
                if path.is_dir() {
                    path.join(CLUSTER_FILE_NAME)
                } else {
                    path
                }
            }));
        } else {
            let path = PathBuf::from(arg);
            paths.push(if path.is_dir() {
                path.join(CLUSTER_FILE_NAME)
            } else {
                path
            });
        }
    }
    Ok(paths)
}
