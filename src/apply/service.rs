//! Starting, stopping, restarting and reloading a node's server as the
//! cluster file says: pg_ctl, systemd, or the operator's own commands. I/O.

use std::time::Duration;

use crate::model::{Node, ServiceControl};
use crate::transport::{AccessError, RemoteCommand, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    Start,
    /// A fast shutdown: sessions ended, a shutdown checkpoint written.
    Stop,
    Restart,
    Reload,
}

impl ServiceAction {
    fn word(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Reload => "reload",
        }
    }
}

const FAST_STOP: &str = r#"pg_ctl=$1 config=$2 data=$3
"$pg_ctl" -D "$config" -m fast -W stop || exit
waited=0
while [ -e "$data/postmaster.pid" ]; do
  waited=$((waited + 1))
  if [ "$waited" -gt 30000 ]; then echo "the server did not stop within 300 s" >&2; exit 1; fi
  sleep 0.01
done"#;

/// Runs `action` on the node; pg_ctl waits (-w) until the server is up.
pub fn control(
    transport: &dyn Transport,
    node: &Node,
    action: ServiceAction,
) -> Result<(), AccessError> {
    let layout = &node.postgres;
    let timeout = Duration::from_secs(600);
    let output = match &layout.service {
        ServiceControl::PgCtl if action == ServiceAction::Stop => {
            // pg_ctl -w looks every 100 ms; a switchover refuses writes
            // while it waits, so the end of the stop is watched every 10 ms:
            // postmaster.pid goes last, after the shutdown checkpoint.
            transport.exec_as_postgres(
                RemoteCommand::new("sh")
                    .args([
                        "-c",
                        FAST_STOP,
                        "mirrorset-stop",
                        &format!("{}/pg_ctl", layout.bin_dir),
                        &layout.config_dir,
                        &layout.data_dir,
                    ])
                    .timeout(timeout),
            )?
        }
        ServiceControl::PgCtl => {
            // -l: without a log file the server keeps the session's stdout open (SANDBOX.md).
            let mut command = RemoteCommand::new(format!("{}/pg_ctl", layout.bin_dir))
                .args([
                    "-D",
                    &layout.config_dir,
                    "-l",
                    &layout.log_file,
                    "-w",
                    "-t",
                    "300",
                ])
                .timeout(timeout);
            if action == ServiceAction::Restart {
                command = command.args(["-m", "fast"]);
            }
            transport.exec_as_postgres(command.arg(action.word()))?
        }
        ServiceControl::PgCtlCluster { major, cluster } => {
            let command = RemoteCommand::new("pg_ctlcluster")
                .args([major.as_str(), cluster.as_str(), action.word()])
                .timeout(timeout);
            // As root, pg_ctlcluster hands over to systemctl where systemd
            // runs the cluster (postgresql@<major>-<name>), so the unit stays
            // in charge; as another user it runs pg_ctl as the cluster's owner.
            if transport.login_user() == "root" {
                transport.exec(&command)?
            } else {
                transport.exec_as_postgres(command)?
            }
        }
        ServiceControl::Systemd { unit } => {
            let command = RemoteCommand::new("systemctl")
                .args([action.word(), unit.as_str()])
                .timeout(timeout);
            transport.exec(&command.run_as(Some("root")))?
        }
        ServiceControl::Commands {
            start,
            stop,
            restart,
            reload,
        } => {
            let argv = match action {
                ServiceAction::Start => start.clone(),
                ServiceAction::Stop => stop.clone(),
                ServiceAction::Reload => match reload {
                    Some(reload) => reload.clone(),
                    None => return Ok(()),
                },
                ServiceAction::Restart => match restart {
                    Some(restart) => restart.clone(),
                    None => {
                        control_argv(transport, node, stop, timeout)?;
                        start.clone()
                    }
                },
            };
            return control_argv(transport, node, &argv, timeout);
        }
    };
    if output.success() {
        Ok(())
    } else {
        Err(AccessError::CommandFailed {
            node: node.name.clone(),
            doing: format!("{} of the server", action.word()),
            reason: format!("{}; see {}", output.failure_reason(), layout.log_file),
        })
    }
}

fn control_argv(
    transport: &dyn Transport,
    node: &Node,
    argv: &[String],
    timeout: Duration,
) -> Result<(), AccessError> {
    let command = RemoteCommand::new(argv[0].clone())
        .args(argv[1..].iter().cloned())
        .timeout(timeout);
    let output = transport.exec(&command)?;
    if output.success() {
        Ok(())
    } else {
        Err(AccessError::CommandFailed {
            node: node.name.clone(),
            doing: format!("`{}`", argv.join(" ")),
            reason: output.failure_reason(),
        })
    }
}
