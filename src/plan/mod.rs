//! Compares observed facts with the desired state into a `Plan`: ordered
//! actions, each with the node, a reason and the precondition it was
//! planned against, plus warnings and refusals. The plan is pure data, the
//! contract `apply` executes; `render` shows it. Pure.

mod action;
mod compute;
mod files;
mod health;
mod mirror;
mod ordering;
mod ownership;
mod primary;
mod promotion;
mod refusals;
mod rejoin;
mod schedule;
mod service;
mod settings;
mod staleness;
mod standalone;
mod sync;
mod target;
mod verdict;

pub use action::{
    Action, ActionKind, Cause, Change, Finding, FindingCode, NodeSummary, PLAN_FORMAT_VERSION,
    Plan, PlanSettings, Precondition, Promotion, PromotionKind, RoleNow, RoleWanted, SecretRef,
    Summary,
};
pub use compute::{plan, sha256_bytes, summarize};
pub use health::{HealthFinding, HealthIssue, ReceiverView, SlotView};
pub use schedule::{Stage, check as check_schedule};
pub use settings::{check_value, setting_differs};
pub use staleness::{Staleness, staleness};
pub use target::only_targets;

/// The JSON schema of a saved plan (`--json`, `--out`).
pub fn plan_schema_json() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Plan>();
    let mut json = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    json.push('\n');
    json
}

/// Where the committed plan schema lives, relative to the repository root.
pub const PLAN_SCHEMA_PATH: &str = "schemas/plan.schema.json";
