//! Administrator notifications (SPEC F-POL-5): detections and operational events are sent to
//! a NotifyScript (kav4proxy style) and/or an HTTP webhook, asynchronously, deduplicated and
//! rate-limited, never slowing the caller.
//!
//! ```no_run
//! # async fn demo() {
//! use bulwark_config::NotifyConfig;
//! use bulwark_notify::{Event, Notifier};
//! let notifier = Notifier::spawn(NotifyConfig {
//!     script: Some("/etc/bulwark/notify.sh".into()),
//!     ..NotifyConfig::default()
//! });
//! notifier.notify(Event::UpdateFailed { reason: "mirror unreachable".into() });
//! notifier.shutdown().await;
//! # }
//! ```
//!
//! # The script
//!
//! Executed directly (no shell, nothing interpolated into a command line), in its own process
//! group, killed with that group after `timeout_secs`. A non-zero exit, a spawn error or a
//! timeout counts as failed and is logged with the first 4 KiB of stdout and stderr.
//!
//! **Arguments**, always all fourteen, empty when they do not apply:
//!
//! | | name | value |
//! |---|---|---|
//! | `$1` | `EVENT` | kind: `detection`, `update_done`, `update_failed`, `database_old`, `license_expiring`, `engine_error`, `reload_failed` |
//! | `$2` | `ACTION` | detection: `DENY`, `CUT` (stopped mid-transfer), `SKIP` |
//! | `$3` | `VERDICT` | detection: `INFECTED`, `SUSPICIOUS`, `WARNING`, `CURED`, `ERROR`… |
//! | `$4` | `URL` | detection: the URL |
//! | `$5` | `CLIENT_ADDR` | detection: client IP |
//! | `$6` | `VIRUS_LIST` | detection: all threat names, `, `-separated |
//! | `$7` | `CURED_LIST` | the threats when the verdict is `CURED` |
//! | `$8` | `SUSP_LIST` | the threats when the verdict is `SUSPICIOUS` |
//! | `$9` | `WARN_LIST` | the threats when the verdict is `WARNING` |
//! | `$10` | `USER` | detection: the user |
//! | `$11` | `GROUP` | detection: the policy group |
//! | `$12` | `SIZE` | detection: object size in bytes |
//! | `$13` | `DETAIL` | other events: version, reason, age in days or days left |
//! | `$14` | `REPEATS` | repeats suppressed by deduplication since this event was last sent |
//!
//! After `shift`, `$1`…`$8` are in the order of Artica's kav4proxy `notify.sh` (action,
//! verdict, URL, IP, virus, cured, suspicious, warn). Values are capped at 8 KiB and stripped
//! of NUL bytes.
//!
//! **Environment**: the inherited one plus each name above both as `BULWARK_<NAME>` and bare
//! (kav4proxy's `%URL%`, `%CLIENT_ADDR%`, `%VIRUS_LIST%`, `%VERDICT%`, `%ACTION%`…), and
//! `DATE`, `PRODUCT`, `DROPPED`, `JSON_VERSION` (also prefixed).
//!
//! **Stdin**: the message as one line of JSON ([`Message`]), never truncated.
//!
//! # The webhook
//!
//! `POST` of the same JSON with `Content-Type: application/json`, connecting directly (proxy
//! variables ignored), no redirects, bounded by `timeout_secs`; anything but 2xx counts as
//! failed.
//!
//! # Throttling
//!
//! In [`Notifier::notify`], in this order: kinds not in `events` are ignored; a repeat of
//! the same [`Event::dedup_key`] inside `dedup_window_secs` is suppressed (counted, reported
//! as `repeats` in the next one sent); past `max_per_minute` in the last 60 s the event is
//! dropped; when the `queue` is full it is dropped (both counted, reported as `dropped` in
//! the next message). The worker runs at most [`MAX_CONCURRENT`] deliveries at once.

mod event;
mod gate;
pub mod macros;
mod notifier;
mod script;
mod webhook;

pub use event::{Event, Message, PRODUCT};
pub use notifier::{Notifier, NotifyStats, MAX_CONCURRENT};
pub use script::{Output, MAX_OUTPUT_BYTES};

use std::time::Duration;

/// Why one delivery (script run or webhook post) failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The script could not be started.
    #[error("cannot run: {0}")]
    Spawn(#[source] std::io::Error),
    /// Waiting for the script failed.
    #[error("cannot wait for it: {0}")]
    Wait(#[source] std::io::Error),
    /// No answer or exit within the timeout (the script was killed).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The script exited unsuccessfully.
    #[error("{status}; stderr: {stderr:?}; stdout: {stdout:?}")]
    Exit {
        /// Exit status as text (`exit status: 3`, `signal: 9`).
        status: String,
        /// First bytes of stdout.
        stdout: String,
        /// First bytes of stderr.
        stderr: String,
    },
    /// The webhook answered with a non-2xx status.
    #[error("HTTP {status}: {body:?}")]
    Http {
        /// Status code.
        status: u16,
        /// First bytes of the answer's body.
        body: String,
    },
    /// Connecting, TLS or HTTP failed.
    #[error("{0}")]
    Transport(String),
}
