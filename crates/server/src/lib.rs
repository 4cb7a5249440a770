//! Bulwark's ICAP server: tokio I/O around the sans-I/O codec and the engine.
//!
//! The way of one request: [`listener`] accepts (connection limit, shutdown), [`connection`]
//! owns the socket (timeouts, decoding, errors), [`transaction`] runs the phases of one ICAP
//! request (route, identify, scan while streaming, decide, answer), [`answer`] frames what goes
//! back, [`pages`] renders block pages. Every transaction works on one [`Snapshot`] taken at its
//! start.

pub mod answer;
mod connection;
mod listener;
pub mod pages;
mod context;
pub mod control;
pub mod metrics;
pub mod logfile;
mod snapshot;
mod spool;
pub mod stats;
pub mod tls;
mod transaction;

pub use listener::{bind, serve, Listeners, ServeError, TlsHandle};
pub use context::Context;
pub use logfile::LogFile;
pub use snapshot::Snapshot;
pub use stats::Stats;
