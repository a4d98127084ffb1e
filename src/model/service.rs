//! How a node's PostgreSQL server is started, stopped and reloaded. Pure data.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceControl {
    /// `pg_ctl -D <config_dir> -l <log_file> -w start|stop|restart|reload`.
    PgCtl,
    /// `systemctl start|stop|restart|reload <unit>`.
    Systemd { unit: String },
    /// Debian's `pg_ctlcluster <major> <cluster> start|stop|restart|reload`
    /// as the PostgreSQL OS user: the server logs where `pg_lsclusters` says.
    PgCtlCluster { major: String, cluster: String },
    /// Programs with their arguments, run as given on the node.
    Commands {
        start: Vec<String>,
        stop: Vec<String>,
        /// When absent, a restart is stop then start.
        restart: Option<Vec<String>>,
        /// When absent, a reload is `SELECT pg_reload_conf()`.
        reload: Option<Vec<String>>,
    },
}
