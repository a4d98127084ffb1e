//! The one integration test binary: runs the real `mirrorset` binary and
//! the library's public API against fixtures and examples.

mod application;
mod apply;
mod check;
mod co_located;
mod debian;
mod demo;
mod examples;
mod faults;
mod health;
mod history;
mod hooks;
mod host_keys;
mod hostile;
mod hosts;
mod import;
mod invalid_files;
mod jump_host;
mod load;
mod ownership;
mod plan;
mod renderers;
mod role_files;
mod scenarios;
mod schema;
mod secrets;
mod sync;
mod test;
mod tls;
mod topology;
mod transport;
mod validate;
