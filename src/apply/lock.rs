//! A lock per node, so two operators never apply at once: a directory made
//! with mkdir (atomic) in the node's state folder (outside
//! the data directory), holding who took it. I/O.

use std::time::{Duration, Instant};

use super::{Applier, ApplyError};
use crate::model::{Node, NodeName};
use crate::transport::{AccessError, RemoteCommand, Transport};

pub const LOCK_NAME: &str = "mirrorset.lock";

/// Exit status of TAKE when someone else holds the lock.
const HELD: i32 = 3;

const TAKE: &str = r#"lock=$1 holder=$2
# The state folder itself is made on first use, private to the server's user.
[ -d "${lock%/*}" ] || mkdir -p -m 0700 -- "${lock%/*}" || exit 1
if mkdir -- "$lock" 2>/dev/null; then printf '%s\n' "$holder" > "$lock/holder"; exit 0; fi
cat -- "$lock/holder" 2>/dev/null || echo "unknown (no holder file)"
exit 3
"#;

const RELEASE: &str = r#"rm -f -- "$1/holder" && rmdir -- "$1""#;

/// Who holds a lock, as its holder file says.
#[derive(Debug, Clone)]
pub struct LockHolder {
    pub node: NodeName,
    pub holder: String,
}

fn lock_path(node: &Node) -> String {
    format!("{}/{LOCK_NAME}", node.postgres.state_dir)
}

impl Applier<'_> {
    /// Takes the node's lock, waiting up to the lock timeout while a live
    /// apply holds it; returns that apply's holder line when it waited.
    pub(super) fn lock(&self, name: &NodeName) -> Result<Option<String>, ApplyError> {
        let node = self
            .cluster
            .node(name)
            .expect("locked nodes are in the cluster");
        let transport = &*self.session(name).transport;
        let holder = format!(
            "{} pid {} since {} for plan {} on node {name}",
            self.options.operator,
            std::process::id(),
            crate::transport::utc_stamp(),
            self.options.plan_id
        );
        let started = Instant::now();
        let mut waited_for = None;
        loop {
            let output = transport.exec_as_postgres(RemoteCommand::new("sh").args([
                "-c",
                TAKE,
                "mirrorset-lock",
                &lock_path(node),
                &holder,
            ]))?;
            if output.success() {
                return Ok(waited_for);
            }
            if output.status != Some(HELD) {
                return Err(AccessError::CommandFailed {
                    node: name.clone(),
                    doing: "taking the lock".into(),
                    reason: output.failure_reason(),
                }
                .into());
            }
            let current = output.stdout_text().trim().to_owned();
            // Held by this very apply for another node: waiting would never end.
            let ours = holder.split(" since ").next();
            if current.split(" since ").next() == ours && current != holder {
                return Err(AccessError::CommandFailed {
                    node: name.clone(),
                    doing: "taking the lock".into(),
                    reason: format!(
                        "{} is already held by this apply ({current}): two nodes share the state folder {}; give each node its own postgres.state_dir",
                        lock_path(node),
                        node.postgres.state_dir
                    ),
                }
                .into());
            }
            if holder_is_dead(&current, &self.options.operator) {
                self.progress.warn(&format!(
                    "{name}: removing the lock of an apply that ended without releasing it ({current})"
                ));
                release(transport, node)?;
                continue;
            }
            if started.elapsed() >= self.options.lock_timeout {
                return Err(ApplyError::Locked {
                    node: name.clone(),
                    holder: current,
                    waited: started.elapsed().as_secs(),
                });
            }
            if waited_for.is_none() {
                self.progress.warn(&format!(
                    "{name} is locked by {current}; waiting up to {}s",
                    self.options.lock_timeout.as_secs()
                ));
            }
            waited_for = Some(current);
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub(super) fn unlock(&self, name: &NodeName) -> Result<(), AccessError> {
        let node = self
            .cluster
            .node(name)
            .expect("locked nodes are in the cluster");
        release(&*self.session(name).transport, node)
    }
}

fn release(transport: &dyn Transport, node: &Node) -> Result<(), AccessError> {
    let output = transport.exec_as_postgres(RemoteCommand::new("sh").args([
        "-c",
        RELEASE,
        "mirrorset-unlock",
        &lock_path(node),
    ]))?;
    if output.success() {
        Ok(())
    } else {
        Err(AccessError::CommandFailed {
            node: node.name.clone(),
            doing: "releasing the lock".into(),
            reason: output.failure_reason(),
        })
    }
}

/// A lock taken by an apply on this machine whose process is gone (it was
/// interrupted before it could release). Locks of other machines are never
/// judged: only their owner or force-unlock removes them.
fn holder_is_dead(holder: &str, operator: &str) -> bool {
    let Some((who, rest)) = holder.split_once(" pid ") else {
        return false;
    };
    let our_host = operator.rsplit('@').next().unwrap_or("");
    let their_host = who.rsplit('@').next().unwrap_or("");
    if our_host.is_empty() || our_host != their_host {
        return false;
    }
    let Some(pid) = rest
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    // A zombie is as dead as a missing process (SANDBOX: PID 1 may not reap).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|after| after.trim_start().starts_with('Z')),
    }
}

/// Removes the locks of the given nodes, whoever holds them; returns the holders removed.
pub fn force_unlock(
    transport: &dyn Transport,
    node: &Node,
) -> Result<Option<LockHolder>, AccessError> {
    let holder = transport.read_file(&format!("{}/holder", lock_path(node)))?;
    let exists = transport.stat(&lock_path(node))?.is_some();
    if !exists {
        return Ok(None);
    }
    release(transport, node)?;
    Ok(Some(LockHolder {
        node: node.name.clone(),
        holder: holder
            .map(|h| String::from_utf8_lossy(&h).trim().to_owned())
            .unwrap_or_else(|| "unknown".into()),
    }))
}
