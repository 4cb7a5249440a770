//! Bulwark's clamd-protocol listener (SPEC F-CLAMD-1): the software that already asks clamd
//! for scans — clamdscan, mail filters (Exim, Rspamd, milters), Nextcloud, upload handlers,
//! c-icap's clamd_mod — asks Bulwark instead, unchanged.
//!
//! [`proto`] is the pure protocol state machine (bytes in, events out); `conn` the thin async
//! driver of one connection; `sock` the socket with SCM_RIGHTS descriptor passing; [`paths`]
//! the path rules and walk of SCAN and friends; [`scan`] one object through the deep scanner
//! and its verdict in clamd's words; `listen` binding and accepting. Scans use the same
//! engine, deep scanner, group options and limits as ICAP, counted in the same statistics
//! (`bulwark_icap_requests_total{method="clamd"}`, `bulwark_objects_total`).

mod conn;
mod hooks;
mod listen;
pub mod paths;
pub mod proto;
pub mod scan;
mod sock;

pub use hooks::{Hooks, ReloadFailure, ReloadFn, ReloadFuture, StopFn};
pub use listen::{bind, serve, ClamdError, ClamdListeners, Endpoint};
