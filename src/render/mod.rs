//! Shows results to people and scripts: human text and JSON, both from the
//! same data. Pure: writes only to the writer it is given.

mod validation;

pub use validation::{ReportStyle, render_problems};
