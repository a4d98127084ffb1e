//! Shows results to people and scripts: human text and JSON, both from the
//! same data. Pure: returns strings, never prints.

mod check;
mod health;
mod plan;
mod status;
mod table;
mod validation;

pub use check::{CheckReport, check_json, check_text};
pub use health::describe_health;
pub use plan::{Palette, describe_action, plan_text};
pub use status::{NodeStatus, status_rows, status_text};
pub use validation::{ReportStyle, render_problems};
