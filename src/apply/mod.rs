//! Executes a `Plan` on the nodes through their transports: locks every
//! node touched (in name order), runs the actions in plan order (the clones
//! of independent mirrors in parallel), checks each action's precondition
//! first, writes an audit record per action on its node, reports progress
//! through `Progress`, and stops at the first failure. I/O.

mod audit;
mod copy;
mod execute;
mod lock;
mod progress;
mod service;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use audit::{AUDIT_FILE, AuditRecord, merge_audit_logs, read_audit_log};
pub use lock::{LOCK_NAME, LockHolder, force_unlock};
pub use progress::Progress;

use crate::desired::Desired;
use crate::model::{Cluster, NodeName, Secret};
use crate::plan::{Action, ActionKind, Plan, Stage};
use crate::transport::{
    self, AccessError, AccessOptions, DEFAULT_CONCURRENCY, RemoteCommand, SqlSession, Transport,
    fan_out,
};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub access: AccessOptions,
    /// How long to wait for another apply's lock before giving up.
    pub lock_timeout: Duration,
    /// How long to wait for a mirror to stream after it starts.
    pub wait_timeout: Duration,
    /// Who applies, for locks and audit records: user@host.
    pub operator: String,
    /// A short id of the plan being applied, for locks and audit records.
    pub plan_id: String,
    /// Set when the operator interrupts (SIGINT, SIGTERM): the running
    /// steps finish, no new one starts, and the locks are released.
    pub interrupted: std::sync::Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Access(#[from] AccessError),
    #[error("{node} is locked by {holder}; waited {waited}s")]
    #[diagnostic(
        code(apply::locked),
        help(
            "another mirrorset apply is running; if it is dead, `mirrorset force-unlock <cluster file>` removes the lock"
        )
    )]
    Locked {
        node: NodeName,
        holder: String,
        waited: u64,
    },
    /// Another apply held a lock this one waited for: what it changed
    /// is not in this plan, so no step of it runs.
    #[error(
        "{node} was locked by {holder} while this apply waited; the plan was made before that apply's changes, so none of its steps ran"
    )]
    #[diagnostic(
        code(apply::plan_outdated_by_lock),
        help("run apply again: it plans from what the nodes hold now")
    )]
    WaitedForLock { node: NodeName, holder: String },
    #[error("{node}: {message}")]
    #[diagnostic(
        code(apply::precondition),
        help("the node changed since the plan was made; run plan again")
    )]
    Precondition { node: NodeName, message: String },
    #[error("{node}: {message}")]
    #[diagnostic(code(apply::action_failed))]
    Failed { node: NodeName, message: String },
    /// Not a failure of its own: a step beside it failed first.
    #[error("{node}: {message}: a step beside it failed")]
    #[diagnostic(code(apply::stopped_beside_a_failure))]
    Aborted { node: NodeName, message: String },
    /// The operator interrupted apply; `done` are the step numbers that ran.
    #[error("interrupted: {} step(s) done, the others not started", done.len())]
    #[diagnostic(
        code(apply::interrupted),
        help("the locks were released; run apply again: it plans only what is left")
    )]
    Interrupted { done: Vec<usize> },
}

/// One node's connection for the run: its transport, and SQL when needed.
pub struct NodeSession {
    pub transport: Box<dyn Transport>,
    sql: Mutex<Option<SqlSession>>,
}

impl NodeSession {
    /// Runs `query` on the node's SQL session, connecting first when needed.
    pub fn with_sql<T>(
        &self,
        layout: &crate::model::PostgresLayout,
        query: impl FnOnce(&SqlSession) -> Result<T, AccessError>,
    ) -> Result<T, AccessError> {
        let mut sql = self
            .sql
            .lock()
            .expect("no panic while holding the SQL session");
        if sql.is_none() {
            let connected = SqlSession::connect(&*self.transport, layout)
                .map_err(|error| self.session_lost(error))?;
            *sql = Some(connected);
        }
        let result = query(sql.as_ref().expect("just connected"));
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                // A failed connection is not reused; the next query reconnects.
                *sql = None;
                Err(self.session_lost(error))
            }
        }
    }

    /// An SQL stream cut together with its SSH session reads as a closed
    /// connection ("is PostgreSQL running?"): when the session is gone too,
    /// the error says that the connection to the node was lost instead.
    fn session_lost(&self, error: AccessError) -> AccessError {
        let AccessError::Sql { node, reason } = error else {
            return error;
        };
        let probe = RemoteCommand::new("true").timeout(Duration::from_secs(5));
        match self.transport.exec(&probe) {
            Err(AccessError::Session { .. }) => AccessError::Session {
                node,
                doing: "running SQL".into(),
                reason,
            },
            _ => AccessError::Sql { node, reason },
        }
    }

    /// Forgets the SQL session: the server restarted or stopped.
    pub fn drop_sql(&self) {
        *self
            .sql
            .lock()
            .expect("no panic while holding the SQL session") = None;
    }
}

/// What a finished apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub done: usize,
    /// For a change of primary: from the start of the step that stops
    /// writes to the end of the promotion, as apply saw it.
    pub writes_refused: Option<Duration>,
}

/// Reads every node again and plans the rest, for a `Replan` step: the
/// commands layer gathers, plans and shows; Err stops the apply.
pub type Replanner<'a> = &'a (dyn Fn() -> Result<Plan, ApplyError> + Sync);

pub struct Applier<'a> {
    pub cluster: &'a Cluster,
    pub desired: &'a Desired,
    pub passphrase: &'a Secret<String>,
    pub options: &'a ApplyOptions,
    pub progress: &'a dyn Progress,
    replan: Replanner<'a>,
    sessions: BTreeMap<NodeName, NodeSession>,
    /// A step failed: steps running beside it stop at their next look.
    aborted: AtomicBool,
    /// The numbers of the steps done, for a report when interrupted.
    done: Mutex<Vec<usize>>,
}

pub fn apply(
    cluster: &Cluster,
    desired: &Desired,
    plan: &Plan,
    passphrase: &Secret<String>,
    options: &ApplyOptions,
    progress: &dyn Progress,
    replan: Replanner<'_>,
) -> Result<ApplyReport, ApplyError> {
    let mut touched: Vec<NodeName> = plan
        .actions
        .iter()
        .map(|action| action.node.clone())
        .collect();
    // A copy reads from its source node too.
    touched.extend(plan.actions.iter().filter_map(|action| match &action.kind {
        ActionKind::SyncFile { from_node, .. } => NodeName::new(from_node).ok(),
        _ => None,
    }));
    // What is planned after a Replan step may touch any member.
    if plan
        .actions
        .iter()
        .any(|action| action.kind == ActionKind::Replan)
    {
        touched.extend(
            cluster
                .nodes
                .iter()
                .filter(|node| node.state != crate::model::NodeState::Absent)
                .map(|node| node.name.clone()),
        );
    }
    // The primary is locked too: clones and waits read from it. So is a
    // node a precondition reads (the old primary of a switchover).
    touched.push(cluster.primary.clone());
    touched.extend(
        plan.actions
            .iter()
            .filter_map(|action| match &action.precondition {
                crate::plan::Precondition::NodeStopped { node } => NodeName::new(node).ok(),
                _ => None,
            }),
    );
    touched.sort();
    touched.dedup();
    let nodes: Vec<_> = touched
        .iter()
        .filter_map(|name| cluster.node(name))
        .collect();
    let opened = fan_out(&nodes, DEFAULT_CONCURRENCY, |node| {
        transport::open(node, &options.access)
    });
    let mut sessions = BTreeMap::new();
    for (node, transport) in nodes.iter().zip(opened) {
        sessions.insert(
            node.name.clone(),
            NodeSession {
                transport: transport?,
                sql: Mutex::new(None),
            },
        );
    }
    let applier = Applier {
        cluster,
        desired,
        passphrase,
        options,
        progress,
        replan,
        sessions,
        aborted: AtomicBool::new(false),
        done: Mutex::new(Vec::new()),
    };
    let mut locked = Vec::new();
    let result = (|| {
        let mut waited_for = None;
        for name in &touched {
            let waited = applier.lock(name)?;
            locked.push(name.clone());
            if let (None, Some(holder)) = (&waited_for, waited) {
                waited_for = Some((name.clone(), holder));
            }
        }
        // Two applies at once: the one that waited planned from what was
        // there before the other one ran (its steps' preconditions catch
        // only some of that).
        if let Some((node, holder)) = waited_for {
            return Err(ApplyError::WaitedForLock { node, holder });
        }
        applier.run(&plan.actions, &plan.schedule, plan.promotion.as_ref())
    })();
    for name in locked.iter().rev() {
        if let Err(error) = applier.unlock(name) {
            progress.warn(&format!("could not release the lock on {name}: {error}"));
        }
    }
    result
}

impl Applier<'_> {
    fn session(&self, node: &NodeName) -> &NodeSession {
        self.sessions
            .get(node)
            .expect("every touched node has a session")
    }

    /// Runs the actions as the plan's schedule says: stage after stage, a
    /// stage's lanes at once (mirrors being cloned), each lane in order.
    fn run(
        &self,
        actions: &[Action],
        schedule: &[Stage],
        promotion: Option<&crate::plan::Promotion>,
    ) -> Result<ApplyReport, ApplyError> {
        let total = actions.len();
        let step = |number: usize| (number, &actions[number - 1]);
        let mut report = ApplyReport::default();
        let mut writes_stopped: Option<Instant> = None;
        for stage in schedule {
            if let [lane] = stage.lanes.as_slice() {
                for &number in lane {
                    let (number, action) = step(number);
                    // Within a switchover's outage the cluster has no writable
                    // primary: an interruption waits until the promotion is done.
                    let in_outage = promotion.is_some_and(|p| {
                        number > p.writes_stop_at && number <= p.writes_resume_after
                    });
                    if self.options.interrupted.load(Ordering::Relaxed) && !in_outage {
                        return Err(self.interrupted());
                    }
                    if action.kind == ActionKind::Replan {
                        report.done += 1 + self.run_replan(number, total, action)?;
                        // Everything after it was planned again.
                        return Ok(report);
                    }
                    let started = Instant::now();
                    self.run_one(number, total, action)?;
                    if let Some(promotion) = promotion {
                        if number == promotion.writes_stop_at {
                            writes_stopped = Some(started);
                        }
                        if number == promotion.writes_resume_after {
                            report.writes_refused = writes_stopped.map(|at| at.elapsed());
                        }
                    }
                    report.done += 1;
                }
                continue;
            }
            let first = stage.lanes.iter().flatten().min().copied().unwrap_or(0);
            let in_outage = promotion
                .is_some_and(|p| first > p.writes_stop_at && first <= p.writes_resume_after);
            if self.options.interrupted.load(Ordering::Relaxed) && !in_outage {
                return Err(self.interrupted());
            }
            let lanes: Vec<Vec<(usize, &Action)>> = stage
                .lanes
                .iter()
                .map(|lane| lane.iter().map(|&number| step(number)).collect())
                .collect();
            let results = fan_out(&lanes, DEFAULT_CONCURRENCY, |lane| {
                let mut done = 0;
                for (number, action) in lane {
                    if self.options.interrupted.load(Ordering::Relaxed) {
                        // A clone writes standby.signal itself: stopping
                        // after it leaves no copy that starts writable.
                        return (done, Err(self.interrupted()));
                    }
                    // Only before a clone: once copied, a mirror gets its
                    // standby.signal, whatever happens beside it.
                    let cloning = matches!(action.kind, ActionKind::Clone { .. });
                    if cloning && self.aborted.load(Ordering::Relaxed) {
                        return (
                            done,
                            Err(ApplyError::Aborted {
                                node: action.node.clone(),
                                message: format!("step {number} was not started"),
                            }),
                        );
                    }
                    if let Err(error) = self.run_one(*number, total, action) {
                        return (done, Err(error));
                    }
                    done += 1;
                }
                (done, Ok(()))
            });
            let mut first_failure = None;
            for (done, result) in results {
                report.done += done;
                if let Err(error) = result {
                    // The cause, not a step that stopped because of it.
                    let is_cause = !matches!(
                        error,
                        ApplyError::Aborted { .. } | ApplyError::Interrupted { .. }
                    );
                    match &first_failure {
                        Some(ApplyError::Aborted { .. } | ApplyError::Interrupted { .. })
                            if is_cause =>
                        {
                            first_failure = Some(error)
                        }
                        None => first_failure = Some(error),
                        Some(_) => {}
                    }
                }
            }
            if let Some(error) = first_failure {
                return Err(match error {
                    ApplyError::Interrupted { .. } => self.interrupted(),
                    other => other,
                });
            }
        }
        Ok(report)
    }

    fn run_one(&self, number: usize, total: usize, action: &Action) -> Result<(), ApplyError> {
        let node = action.node.clone();
        let started = Instant::now();
        self.progress.start(number, total, action);
        let result = self.execute(&node, action, &|detail| {
            self.progress.advance(number, total, action, detail)
        });
        let outcome = match &result {
            Ok(note) => note.clone().unwrap_or_default(),
            Err(error) => error.to_string(),
        };
        self.audit(&node, number, action, result.is_ok(), &outcome);
        match result {
            Ok(note) => {
                self.done
                    .lock()
                    .expect("no panic while holding the list")
                    .push(number);
                self.progress
                    .finish(number, total, action, started.elapsed(), note.as_deref());
                Ok(())
            }
            Err(error) => {
                // Said at once: steps beside it may still be running.
                self.aborted.store(true, Ordering::Relaxed);
                self.progress
                    .fail(number, total, action, &error.to_string());
                Err(error)
            }
        }
    }

    fn interrupted(&self) -> ApplyError {
        let mut done = self
            .done
            .lock()
            .expect("no panic while holding the list")
            .clone();
        done.sort_unstable();
        ApplyError::Interrupted { done }
    }

    /// Reads every node again, plans the rest and runs it; returns how
    /// many steps that was.
    fn run_replan(
        &self,
        number: usize,
        total: usize,
        action: &Action,
    ) -> Result<usize, ApplyError> {
        let node = action.node.clone();
        let started = Instant::now();
        self.progress.start(number, total, action);
        let result = (self.replan)();
        let outcome = match &result {
            Ok(plan) => format!("planned {} more steps", plan.actions.len()),
            Err(error) => error.to_string(),
        };
        self.audit(&node, number, action, result.is_ok(), &outcome);
        let plan = match result {
            Ok(plan) => plan,
            Err(error) => {
                self.progress
                    .fail(number, total, action, &error.to_string());
                return Err(error);
            }
        };
        self.progress
            .finish(number, total, action, started.elapsed(), Some(&outcome));
        if plan
            .actions
            .iter()
            .any(|action| action.kind == ActionKind::Replan)
        {
            return Err(ApplyError::Failed {
                node,
                message: "its facts still cannot be read after it was started; see its log".into(),
            });
        }
        for action in &plan.actions {
            if !self.sessions.contains_key(&action.node) {
                return Err(ApplyError::Failed {
                    node: action.node.clone(),
                    message: "the new plan touches a node this apply did not lock; run apply again"
                        .into(),
                });
            }
        }
        Ok(self
            .run(&plan.actions, &plan.schedule, plan.promotion.as_ref())?
            .done)
    }
}
