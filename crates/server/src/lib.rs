//! Bulwark's ICAP server: tokio I/O around the sans-I/O codec and the engine.
//!
//! The way of one request: [`listener`] accepts (connection limit, shutdown), [`connection`]
//! owns the socket (timeouts, decoding, errors), [`transaction`] runs the phases of one ICAP
//! request (route, identify, scan while streaming, decide, answer), [`answer`] frames what goes
//! back, [`pages`] renders block pages. Every transaction works on one [`Snapshot`] taken at its
//! start.

pub mod answer;
mod blocked;
mod body;
mod conn;
mod connection;
mod context;
pub mod control;
pub mod flow;
mod identify;
pub mod licensing;
mod listener;
pub mod logfile;
pub mod metrics;
mod record;
mod scan;
mod snapshot;
mod spool;
pub mod stats;
pub mod tls;
mod transaction;

pub use context::Context;
pub use listener::{bind, serve, Listeners, ServeError, TlsHandle};
pub use logfile::LogFile;
pub use snapshot::Snapshot;
pub use stats::Stats;
