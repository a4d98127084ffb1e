//! Shows results to people and scripts: human text and JSON, both from the
//! same data. Pure (returns strings), but for apply's progress sink, which
//! prints each step as apply reports it.

mod check;
mod health;
mod history;
pub mod import;
mod plan;
mod progress;
mod status;
mod table;
mod validation;

pub use check::{CheckReport, check_json, check_text};
pub use health::describe_health;
pub use history::history_text;
pub use plan::{Palette, describe_action, plan_text};
pub use progress::{TextProgress, describe_staleness};
pub use status::{NodeStatus, status_rows, status_text};
pub use validation::{ReportStyle, render_problems};
