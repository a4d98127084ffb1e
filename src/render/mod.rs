//! Shows results to people and scripts: human text and JSON, both from the
//! same data. Pure: returns strings, never prints.

mod check;
mod table;
mod validation;

pub use check::{CheckReport, check_json, check_text};
pub use validation::{ReportStyle, render_problems};
