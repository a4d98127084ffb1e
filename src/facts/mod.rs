//! What is really on each node. `probe` gathers (I/O, through a transport);
//! `parse` reads what the node printed (pure).

pub mod parse;
pub mod probe;

pub use probe::{NodeProbe, ObservedRole, ProbeProblem, probe_cluster};
