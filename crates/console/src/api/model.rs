//! The JSON bodies of the API, one type each, as `docs/console-openapi.yaml` describes them
//! (`openapi_tests` checks every one against it: a renamed or dropped field fails there).

use std::collections::BTreeMap;

use bulwark_config::PolicyConfig;
use serde::Serialize;

use crate::detections::AvStatsLine;
use crate::sampler::{Percentiles, Point};

/// `Error`: every refusal and failure.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorBody {
    /// Always false.
    pub ok: bool,
    /// What went wrong.
    pub error: String,
}

impl ErrorBody {
    /// An error saying `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: msg.into(),
        }
    }
}

/// `{"ok": true}` (log-out).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Done {
    /// Always true.
    pub ok: bool,
}

/// `Message`: a reload's answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Message {
    /// Always true.
    pub ok: bool,
    /// The server's message.
    pub message: String,
}

/// Which log-ins are configured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoginMethods {
    /// `console.password_hash` is set.
    pub password: bool,
    /// `console.token` or `console.token_file` is set.
    pub token: bool,
}

/// `GET /api/session`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionState {
    /// Whether the cookie names a live session.
    pub authenticated: bool,
    /// The session's CSRF token (only when authenticated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// Which log-ins are configured.
    pub login: LoginMethods,
}

/// `POST /api/login`, accepted.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedIn {
    /// Always true.
    pub ok: bool,
    /// The token every state-changing request of the session carries in `X-CSRF-Token`.
    pub csrf: String,
    /// Seconds the session lasts.
    pub expires_in_secs: u64,
}

/// `Database`: the signature database in use.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DatabaseInfo {
    /// Its version.
    pub version: String,
    /// When it was loaded (Unix time).
    pub loaded_at: i64,
    /// Seconds since then.
    pub age_secs: i64,
}

/// `License`: the licence state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LicenseInfo {
    /// Whether `[license] required` is on.
    pub required: bool,
    /// One line (`not required` when it is off).
    pub state: String,
    /// Whether the server may scan.
    pub allows_scanning: bool,
    /// Days left when the licence ends soon.
    pub expiring_in_days: Option<i64>,
}

/// `GET /api/status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    /// The console's (and server's) version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The ISTag.
    pub istag: String,
    /// ICAP connections open.
    pub connections_open: i64,
    /// ICAP connections accepted.
    pub connections_total: u64,
    /// Transactions in flight.
    pub in_flight: i64,
    /// Objects scanned, every status.
    pub objects_total: u64,
    /// Objects found infected.
    pub objects_infected: u64,
    /// The database in use.
    pub database: DatabaseInfo,
    /// The licence.
    pub license: LicenseInfo,
    /// The configuration file (`--config`), if any.
    pub config_path: Option<String>,
    /// Whether "update now" is available.
    pub update_available: bool,
}

/// The counters now, in `GET /api/stats`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CountersNow {
    /// Unix time.
    pub t: u64,
    /// Requests by method.
    pub requests: BTreeMap<String, u64>,
    /// Requests of every method.
    pub requests_total: u64,
    /// Objects by status.
    pub objects: BTreeMap<String, u64>,
    /// Bytes scanned.
    pub bytes: u64,
    /// ICAP connections accepted.
    pub connections: u64,
    /// ICAP connections open.
    pub connections_open: i64,
    /// Transactions in flight.
    pub in_flight: i64,
}

/// `GET /api/stats`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatsPage {
    /// Seconds between samples.
    pub interval_secs: u64,
    /// The counters now.
    pub now: CountersNow,
    /// Scan-time percentiles over the hour.
    pub hour: Percentiles,
    /// One point per interval, oldest first.
    pub series: Vec<Point>,
}

/// `GET /api/detections`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Detections {
    /// False when `log.av_stats_file` is unset.
    pub enabled: bool,
    /// Why there is nothing to list, when that is why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The lines, newest first.
    pub items: Vec<AvStatsLine>,
}

/// `UpdateReport`: the outcome of the last database update started from the console.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateReport {
    /// When it ended (Unix time).
    pub at: u64,
    /// Seconds it took.
    pub secs: f64,
    /// Whether it succeeded.
    pub ok: bool,
    /// The updater's report, or why it failed.
    pub message: String,
}

/// Whether an update can run, runs, and how the last one went.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateState {
    /// An updater is configured.
    pub available: bool,
    /// One runs now.
    pub running: bool,
    /// The last one started from the console.
    pub last: Option<UpdateReport>,
}

/// `GET /api/database`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DatabasePage {
    /// The database in use.
    pub database: DatabaseInfo,
    /// Updates.
    pub update: UpdateState,
}

/// `POST /api/database/update`, done.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateDone {
    /// Always true.
    pub ok: bool,
    /// The updater's report.
    pub message: String,
    /// The same, timed.
    pub report: UpdateReport,
}

/// `POST /api/database/update`, failed (`502`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateFailed {
    /// Always false.
    pub ok: bool,
    /// Why.
    pub error: String,
    /// The same, timed.
    pub report: UpdateReport,
}

/// `GET /api/license`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LicensePage {
    /// The licence state.
    #[serde(flatten)]
    pub license: LicenseInfo,
    /// `[license]` as TOML, secrets masked.
    pub config: Option<String>,
}

/// `GET /api/config`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigPage {
    /// The file, if the server has one.
    pub path: Option<String>,
    /// Whether the console may write it.
    pub editable: bool,
    /// What a masked secret shows as.
    pub mask: &'static str,
    /// The file's text, secrets masked.
    pub file: Option<String>,
    /// Why the file is not shown or not editable.
    pub note: Option<String>,
    /// The configuration in force, as TOML, secrets masked.
    pub effective: Option<String>,
}

/// `Diagnostic`: one problem of a configuration text.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Diagnostic {
    /// 1-based line.
    pub line: Option<usize>,
    /// Dotted key path.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// `line N: key: message`.
    pub text: String,
}

impl From<&bulwark_config::Diagnostic> for Diagnostic {
    fn from(d: &bulwark_config::Diagnostic) -> Self {
        Self {
            line: d.line,
            key: d.key.clone(),
            message: d.message.clone(),
            text: d.to_string(),
        }
    }
}

/// The configuration's diagnostics as the API shows them.
pub(crate) fn diagnostics(d: &[bulwark_config::Diagnostic]) -> Vec<Diagnostic> {
    d.iter().map(Diagnostic::from).collect()
}

/// `ConfigResult`: the outcome of a configuration check or edit; only the fields of that
/// outcome are present.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfigResult {
    /// Whether it was accepted.
    pub ok: bool,
    /// The reload's message (applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Diagnostic>>,
    /// What may be wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Diagnostic>>,
    /// The backup of the previous file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

impl ConfigResult {
    /// Valid; nothing written.
    pub fn checked(warnings: Vec<Diagnostic>) -> Self {
        Self {
            ok: true,
            message: None,
            error: None,
            errors: Some(Vec::new()),
            warnings: Some(warnings),
            backup: None,
        }
    }

    /// Refused before anything was written.
    pub fn refused(error: impl Into<String>, errors: Vec<Diagnostic>) -> Self {
        Self {
            ok: false,
            message: None,
            error: Some(error.into()),
            errors: Some(errors),
            warnings: None,
            backup: None,
        }
    }

    /// Written and reloaded.
    pub fn applied(message: String, warnings: Vec<Diagnostic>, backup: String) -> Self {
        Self {
            ok: true,
            message: Some(message),
            error: None,
            errors: None,
            warnings: Some(warnings),
            backup: Some(backup),
        }
    }

    /// Written, refused by the reload, and (if it could be) put back.
    pub fn reload_refused(error: String, backup: String) -> Self {
        Self {
            backup: Some(backup),
            ..Self::refused(error, Vec::new())
        }
    }
}

/// `GET /api/config/policy`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PolicyPage {
    /// Always true.
    pub ok: bool,
    /// Whether the console may write the file.
    pub editable: bool,
    /// Why the running policy is shown instead of the file's.
    pub note: Option<String>,
    /// The policy.
    pub policy: PolicyConfig,
}
