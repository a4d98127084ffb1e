//! SQL on a node through tokio-postgres, over the transport's stream to the
//! server's Unix socket (peer authentication as the PostgreSQL OS user, so
//! no password exists anywhere). Queries take bound parameters; names that
//! cannot be parameters are quoted with `quote_identifier`. I/O.

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::{AccessError, Transport};
use crate::model::{NodeName, PostgresLayout};

/// One connection to one node's server, for the whole run.
pub struct SqlSession {
    node: NodeName,
    runtime: Runtime,
    client: Client,
}

impl SqlSession {
    /// Connects to `layout`'s socket on the node as the PostgreSQL OS user, database `postgres`.
    pub fn connect(
        transport: &dyn Transport,
        layout: &PostgresLayout,
    ) -> Result<Self, AccessError> {
        let node = transport.node().clone();
        let failed = |reason: String| AccessError::Sql {
            node: node.clone(),
            reason,
        };
        let path = format!("{}/.s.PGSQL.{}", layout.socket_dir, layout.port);
        let stream = transport.connect_unix(&path)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let client = runtime.block_on(async {
            stream.set_nonblocking(true)?;
            let stream = tokio::net::UnixStream::from_std(stream)?;
            let mut config = tokio_postgres::Config::new();
            config
                .user(transport.postgres_user())
                .dbname("postgres")
                .application_name("mirrorset");
            let (client, connection) = config
                .connect_raw(stream, NoTls)
                .await
                .map_err(|e| std::io::Error::other(describe(&e)))?;
            // Driven whenever a query is awaited on this runtime.
            tokio::spawn(connection);
            Ok::<_, std::io::Error>(client)
        });
        let client = client.map_err(|e| failed(format!("cannot connect to {path}: {e}")))?;
        Ok(Self {
            node: transport.node().clone(),
            runtime,
            client,
        })
    }

    fn error(&self, error: tokio_postgres::Error) -> AccessError {
        AccessError::Sql {
            node: self.node.clone(),
            reason: describe(&error),
        }
    }

    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, AccessError> {
        self.runtime
            .block_on(self.client.query(sql, params))
            .map_err(|e| self.error(e))
    }

    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, AccessError> {
        self.runtime
            .block_on(self.client.query_one(sql, params))
            .map_err(|e| self.error(e))
    }

    /// Runs one statement; returns the number of rows it touched.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, AccessError> {
        self.runtime
            .block_on(self.client.execute(sql, params))
            .map_err(|e| self.error(e))
    }
}

/// The server's message when there is one ("ERROR: …"), not just "db error".
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => error.to_string(),
    }
}
