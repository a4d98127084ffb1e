//! The error of a cluster file that breaks rules: every problem, in file
//! order, as one miette diagnostic with the problems as related reports. Pure.

use std::fmt;
use std::path::{Path, PathBuf};

use miette::Diagnostic;

use super::Problem;

#[derive(Debug)]
pub struct InvalidClusterFile {
    path: PathBuf,
    problems: Vec<Problem>,
}

impl InvalidClusterFile {
    pub fn new(path: &Path, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|problem| problem.span().map(|span| span.start).unwrap_or(0));
        // A value in [defaults] is checked once per node that inherits it.
        problems.dedup_by(|a, b| {
            a.rule() == b.rule() && a.span() == b.span() && a.message() == b.message()
        });
        Self {
            path: path.to_path_buf(),
            problems,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for InvalidClusterFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "{} is not a valid cluster file: {count} problem{}",
            self.path.display(),
            if count == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for InvalidClusterFile {}

impl Diagnostic for InvalidClusterFile {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("config::invalid"))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.problems
                .iter()
                .map(|problem| problem as &dyn Diagnostic),
        ))
    }
}
