//! Bulwark's ICAP server: tokio I/O around the sans-I/O codec, the engine and the answer flow.
//!
//! The way of one request, one module each (no module imports one that imports it back):
//! `listener` accepts (access list, connection limit, shutdown); `connection` loops over the
//! requests of one connection on a `conn` (socket, timeouts, decoder, reset); `transaction`
//! routes; `identify` names the client; `scan` selects the group and answers what needs no body;
//! `body` drives the [`flow`] — the pure state machine that decides every answer — over the
//! scanner and the spool; `txn` holds what a transaction decided before its body; [`answer`]
//! frames what goes back; `record` logs and counts. Every transaction works on one [`Snapshot`]
//! taken at its start.

pub mod access;
pub mod answer;
mod blocked;
mod body;
mod conn;
mod connection;
mod context;
pub mod control;
pub mod flow;
mod identify;
pub mod idle;
pub mod licensing;
mod listener;
pub mod logfile;
mod memtrim;
pub mod metrics;
mod perclient;
mod procstat;
mod record;
mod reload_error;
mod scan;
pub mod sdnotify;
mod snapshot;
mod spool;
pub mod stats;
pub mod tls;
mod transaction;
mod txn;

pub use body::finish_scan;
pub use context::Context;
pub use listener::{bind, serve, Listeners, ServeError, TlsHandle};
pub use logfile::LogFile;
pub use memtrim::limit_arenas;
pub use record::{record_direct, DirectScan};
pub use reload_error::ReloadError;
pub use snapshot::Snapshot;
pub use stats::Stats;
