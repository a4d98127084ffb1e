//! Shows results to people and scripts: human text and JSON, both from the
//! same data. Pure: returns strings, never prints.

mod check;
mod plan;
mod table;
mod validation;

pub use check::{CheckReport, check_json, check_text};
pub use plan::{Palette, plan_text};
pub use validation::{ReportStyle, render_problems};
