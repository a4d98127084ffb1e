//! A client that keeps inserting numbered rows into whichever test host is
//! the writable primary (libpq-style `target_session_attrs=read-write` over
//! TCP, as an application would), recording every acknowledged insert.
//! Used to prove a switchover loses no committed row and to measure how long
//! writes are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::hosts::TestHosts;

pub const LOAD_USER: &str = "loadtest";
const LOAD_PASSWORD: &str = "load-only-password";

/// SQL for the primary: the table and a role that may only insert and read it.
pub fn load_setup_sql() -> String {
    format!(
        "CREATE ROLE {LOAD_USER} LOGIN PASSWORD '{LOAD_PASSWORD}'; \
         CREATE TABLE load (id bigint PRIMARY KEY, server text NOT NULL); \
         GRANT INSERT, SELECT ON load TO {LOAD_USER}"
    )
}

/// One insert the server acknowledged (committed).
#[derive(Debug, Clone)]
pub struct Ack {
    pub id: i64,
    /// inet_server_addr() of the server that took it.
    pub server: String,
    pub at: Instant,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Ack>>,
}

impl Load {
    /// Starts inserting into the first writable server among `hosts` (1-based).
    pub fn start(hosts: &TestHosts, among: &[u8], first_id: i64) -> Self {
        let addresses: Vec<String> = among.iter().map(|h| hosts.addr(*h)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(insert_until(addresses, stopping, first_id))
        });
        Self { stop, thread }
    }

    /// Stops inserting; returns every acknowledged insert in order.
    pub fn stop(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the load thread does not panic")
    }
}

async fn insert_until(addresses: Vec<String>, stop: Arc<AtomicBool>, first_id: i64) -> Vec<Ack> {
    let mut config = tokio_postgres::Config::new();
    for address in &addresses {
        config.host(address);
    }
    config
        .port(5432)
        .user(LOAD_USER)
        .password(LOAD_PASSWORD)
        .dbname("postgres")
        .target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite)
        .connect_timeout(Duration::from_secs(1));
    let mut acks = Vec::new();
    let mut id = first_id;
    while !stop.load(Ordering::Relaxed) {
        let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let driver = tokio::spawn(connection);
        while !stop.load(Ordering::Relaxed) {
            id += 1;
            // A failed insert may or may not have committed: it is not
            // counted, and its id is never reused.
            match client
                .query_one(
                    "INSERT INTO load VALUES ($1, host(inet_server_addr())) RETURNING server",
                    &[&id],
                )
                .await
            {
                Ok(row) => acks.push(Ack {
                    id,
                    server: row.get(0),
                    at: Instant::now(),
                }),
                Err(_) => break,
            }
        }
        driver.abort();
    }
    acks
}

/// The time no server acknowledged a write while the primary moved from
/// `from` to `to`: last ack of the old, first ack of the new.
pub fn write_gap(acks: &[Ack], from: &str, to: &str) -> Duration {
    let last_old = acks
        .iter()
        .filter(|a| a.server == from)
        .map(|a| a.at)
        .max()
        .unwrap_or_else(|| panic!("no insert was acknowledged by {from}"));
    let first_new = acks
        .iter()
        .filter(|a| a.server == to)
        .map(|a| a.at)
        .min()
        .unwrap_or_else(|| panic!("no insert was acknowledged by {to}"));
    first_new.saturating_duration_since(last_old)
}
