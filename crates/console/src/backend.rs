//! What the console needs from the server it administers, as one small trait: the
//! configuration in force, the state the status page shows, the counters the charts sample,
//! reloads and a database update. The binary implements it over the server's context and
//! controller; the console's tests implement it with a fake.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bulwark_config::Config;

/// A boxed future that may cross threads (what [`Backend`]'s async methods return, so that the
/// trait stays usable as `Arc<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a database update returns: the updater's report (`Ok`) or why it failed (`Err`).
pub type UpdateFuture = BoxFuture<'static, Result<String, BackendError>>;

/// Why the server refused or could not finish an action (a reload, a database update); its
/// text is the server's own message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(Box<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// Wraps the server's error (or message).
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(e.into())
    }
}

/// The server's counters and gauges at one moment (what `/metrics` exposes): the console
/// samples them every `console.sample_interval_secs` for its charts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Requests by method (`options`, `reqmod`, `respmod`, `clamd`, `api`).
    pub requests: BTreeMap<String, u64>,
    /// Scanned objects by status (`clean`, `infected`, …).
    pub objects: BTreeMap<String, u64>,
    /// Bytes of scanned objects, all statuses.
    pub bytes: u64,
    /// ICAP connections accepted.
    pub connections: u64,
    /// ICAP connections open.
    pub connections_open: i64,
    /// Transactions in flight.
    pub in_flight: i64,
    /// When the database in use was loaded (Unix time).
    pub database_loaded: i64,
    /// The scan-time histogram, cumulative: (upper bound in seconds, observations at or below
    /// it), ascending, `f64::INFINITY` last.
    pub scan_seconds: Vec<(f64, u64)>,
}

impl Counters {
    /// Requests of every method.
    pub fn requests_total(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// The licence as the status page shows it (when `[license] required` is on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseStatus {
    /// One line: valid, expiring, expired… (as `bulwark ctl status` says it).
    pub state: String,
    /// Whether the licence lets the server scan now.
    pub allows_scanning: bool,
    /// Days left when the licence ends within the warning period.
    pub expiring_in_days: Option<i64>,
}

/// The server's state for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// The ISTag the server answers with.
    pub istag: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// The version of the signature database in use.
    pub database_version: String,
    /// The licence, or `None` when none is required.
    pub license: Option<LicenseStatus>,
}

/// The server as the console sees it. Every method is called from request handlers (and the
/// sampler) on the async runtime: the synchronous ones must not block.
pub trait Backend: Send + Sync + 'static {
    /// The configuration in force. The console reads its own `[console]` settings from it on
    /// every request, so a reload changes the password, token and session lifetime.
    fn config(&self) -> Arc<Config>;

    /// What building the server's snapshot from `config` would find beyond its plain data (a
    /// policy's bad regex…): the console checks an edited file with it before applying it, as
    /// `bulwark config check` does. No I/O beyond what compiling the sections reads.
    fn check_config(&self, config: &Config) -> bulwark_config::Findings;

    /// The server's state for the status page.
    fn status(&self) -> ServerStatus;

    /// The counters and gauges now.
    fn counters(&self) -> Counters;

    /// Reloads the configuration and the databases (as SIGHUP does): the server's message, or
    /// why it refused (the previous configuration keeps serving).
    fn reload(&self) -> BoxFuture<'_, Result<String, BackendError>>;

    /// Reloads the databases (as SIGUSR1 does): the server's message, or why it refused (the
    /// previous database keeps serving).
    fn reload_db(&self) -> BoxFuture<'_, Result<String, BackendError>>;

    /// Whether [`Backend::update`] can run a database update (an updater is configured).
    fn update_available(&self) -> bool {
        false
    }

    /// A database update ("update now" in the console), which starts when the future is first
    /// polled (the console may drop it unpolled when another update runs); `None` when no
    /// updater is configured (the console then answers `501 Not Implemented`).
    fn update(&self) -> Option<UpdateFuture> {
        None
    }
}
