//! `[hooks]`: programs the operator's application needs run around a role
//! change (its daemon stopped before, started after) and to fence an old
//! primary before a failover. argv lists, never shell strings. Pure data.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hooks {
    /// On a node, as its SSH user, before its server's role changes.
    pub before_role_change: Option<Vec<String>>,
    /// On a node, as its SSH user, once its new role is in effect.
    pub after_role_change: Option<Vec<String>>,
    /// On the operator's machine, before a failover's promotion.
    pub fence: Option<Vec<String>>,
}
