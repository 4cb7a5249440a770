//! Licence enforcement in the server (SPEC F-LIC-2): only when `[license] required = true`.
//! The status is re-evaluated at most once a minute (and on reload); traffic is counted per
//! object and saved periodically and at shutdown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_config::LicenseConfig;
use bulwark_license::{LicenseError, LicenseStatus, Licensing};
use tracing::{info, warn};

/// How often the licence status is re-evaluated.
const RECHECK: Duration = Duration::from_secs(60);

/// Why the licence could not be opened or its keys re-read.
#[derive(Debug, thiserror::Error)]
pub enum EnforcerError {
    /// The licence directory or a trusted key could not be read at start ([`Enforcer::open`]).
    #[error("license: {0}")]
    Open(#[source] LicenseError),
    /// The installed keys could not be re-read ([`Enforcer::reload`]).
    #[error("{0}")]
    Reload(#[source] LicenseError),
    /// A thread panicked while holding the licence state.
    #[error("licence state poisoned")]
    Poisoned,
}

/// The licence as the server sees it.
#[derive(Debug)]
pub struct Enforcer {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    licensing: Licensing,
    status: LicenseStatus,
    checked: Instant,
}

fn now() -> bulwark_license::OffsetDateTime {
    bulwark_license::OffsetDateTime::now_utc()
}

impl Enforcer {
    /// Opens the licence directory when the licence is required; `Ok(None)` when it is not.
    pub fn open(cfg: &LicenseConfig) -> Result<Option<Self>, EnforcerError> {
        if !cfg.required {
            return Ok(None);
        }
        let mut licensing = Licensing::open(cfg).map_err(EnforcerError::Open)?;
        let status = licensing.check(now());
        log_status(&status);
        Ok(Some(Self {
            inner: Mutex::new(Inner {
                licensing,
                status,
                checked: Instant::now(),
            }),
        }))
    }

    /// True when objects may be scanned now; false means LicenseErrorAction applies.
    pub fn allows_scanning(&self) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        if g.checked.elapsed() >= RECHECK {
            g.recheck();
        }
        g.status.allows_scanning()
    }

    /// Counts an object's bytes against today's quota.
    pub fn record(&self, bytes: u64) {
        if let Ok(mut g) = self.inner.lock() {
            g.licensing.record_traffic(bytes, now());
        }
    }

    /// Re-reads the installed keys (after `bulwark license add`; on SIGHUP/SIGUSR1).
    pub fn reload(&self) -> Result<(), EnforcerError> {
        let mut g = self.inner.lock().map_err(|_| EnforcerError::Poisoned)?;
        g.licensing.reload().map_err(EnforcerError::Reload)?;
        g.recheck();
        Ok(())
    }

    /// Saves the traffic counter and any key promotion.
    pub fn save(&self) {
        if let Ok(mut g) = self.inner.lock() {
            if let Err(e) = g.licensing.save() {
                warn!("licence state not saved: {e}");
            }
        }
    }

    /// Days left when the licence ends within the warning period and no backup follows.
    pub fn expiring_soon(&self) -> Option<i64> {
        self.inner.lock().ok()?.licensing.expiring_soon(now())
    }

    /// A one-line description for `ctl status`.
    pub fn describe(&self) -> String {
        match self.inner.lock() {
            Ok(g) => describe(&g.status),
            Err(_) => "unknown".into(),
        }
    }
}

impl Inner {
    fn recheck(&mut self) {
        let status = self.licensing.check(now());
        if let Some(p) = self.licensing.take_promotion() {
            info!("licence: backup key took over: {p:?}");
        }
        if std::mem::discriminant(&status) != std::mem::discriminant(&self.status) {
            log_status(&status);
        }
        self.status = status;
        self.checked = Instant::now();
    }
}

fn describe(s: &LicenseStatus) -> String {
    match s {
        LicenseStatus::Valid {
            serial, days_left, ..
        } => format!("valid (serial {serial}, {days_left} days left)"),
        LicenseStatus::NoKey => "no key installed".into(),
        LicenseStatus::Invalid { reason } => format!("invalid: {reason}"),
        LicenseStatus::Expired { serial, expired_on } => {
            format!("expired (serial {serial}, on {expired_on})")
        }
        LicenseStatus::NotYetValid { serial, valid_from } => {
            format!("not valid yet (serial {serial}, from {valid_from})")
        }
        LicenseStatus::QuotaExhausted {
            serial, quota_mb, ..
        } => format!("daily traffic quota of {quota_mb} MB used up (serial {serial})"),
    }
}

fn log_status(s: &LicenseStatus) {
    if s.allows_scanning() {
        info!("licence: {}", describe(s));
    } else {
        warn!(
            "licence: {}; LicenseErrorAction applies to every object",
            describe(s)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_are_typed_and_worded_as_before() {
        assert!(matches!(
            Enforcer::open(&LicenseConfig::default()),
            Ok(None)
        ));
        let cfg = LicenseConfig {
            required: true,
            dir: "/nonexistent/bulwark-licence".into(),
            trusted_keys: Vec::new(),
        };
        let e = Enforcer::open(&cfg).unwrap_err();
        assert!(
            matches!(e, EnforcerError::Open(LicenseError::NoTrustedKeys)),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("license: no trusted issuer key"),
            "{e}"
        );
    }
}
