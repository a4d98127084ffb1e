//! What is really on each node. `gather` reads every node for `plan` and
//! `probe` takes a quick look for `check` (I/O, through a transport);
//! `observed` holds what they found and `parse` reads what nodes print (pure).

pub mod gather;
pub mod observed;
pub mod parse;
pub mod probe;

pub use gather::{REWIND_FAILED, gather};
pub use observed::{DataDir, NodeFacts, Observed, Reached};
pub use probe::{NodeProbe, ObservedRole, ProbeProblem, probe_cluster};
