//! Central logs (SPEC F-FLEET-4): per-object records and the report log sent to a syslog
//! receiver — the local socket (`/dev/log`), UDP, or TCP with RFC 6587 octet counting — as
//! RFC 5424 messages with structured data, or as ArcSight CEF lines for SIEMs.
//!
//! Sending never slows a scan: [`CentralLog::object`] and the report layer build a message
//! and put it in a bounded queue, or count it dropped when the queue is full; a background
//! task writes the queue out, reconnecting with backoff while the receiver is down, warning at
//! most once a minute, and on [`CentralLog::shutdown`] flushes within a deadline.
//!
//! The RFC 5424 formatter is written here rather than taken from the `syslog` or `fasyslog`
//! crates: both send from the caller's thread with blocking I/O (a slow receiver would stall
//! the scan that logs), and neither carries the local socket's `syslog(3)` header next to
//! RFC 5424 structured data; the format itself is a few dozen lines ([`format`](mod@format)).
//!
//! ```no_run
//! # async fn demo() {
//! use bulwark_config::{syslog::Transport, SyslogConfig};
//! use bulwark_syslog::{Action, CentralLog, ObjectRecord, RecordKind};
//! let central = CentralLog::new(&SyslogConfig {
//!     transport: Transport::Udp,
//!     address: "127.0.0.1:514".into(),
//!     ..SyslogConfig::default()
//! });
//! central.start();
//! central.object(&ObjectRecord {
//!     kind: RecordKind::Detection,
//!     protocol: "RESPMOD",
//!     status: "infected",
//!     threats: &["Eicar-Test-Signature"],
//!     url: "http://example.com/eicar.com",
//!     client: Some("192.0.2.10"),
//!     user: None,
//!     group: "default",
//!     action: Action::Blocked,
//!     answer: "403",
//!     size: 68,
//!     sha256: None,
//!     istag: "\"BW-1\"",
//!     database: "builtin-1",
//!     millis: 1,
//! });
//! central.shutdown(std::time::Duration::from_secs(2)).await;
//! # }
//! ```

pub mod cef;
mod central;
pub mod format;
mod layer;
mod record;
mod transport;
mod worker;

pub use central::{CentralLog, SyslogStats, ACCESS_TARGET};
pub use layer::SyslogLayer;
pub use record::{Action, Level, ObjectRecord, RecordKind, ReportRecord};
pub use transport::SendError;
