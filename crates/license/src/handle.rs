//! The `Licensing` handle the server holds, built from `[license]` (`bulwark_config::LicenseConfig`).

use std::path::{Path, PathBuf};

use bulwark_config::LicenseConfig;
use bulwark_sign::VerifyingKey;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::LicenseError;
use crate::state::{LicenseState, Promotion};
use crate::status::LicenseStatus;
use crate::store::LicenseDir;

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    license: LicenseConfig,
}

/// Reads only the `[license]` table of a Bulwark configuration file (other tables are ignored;
/// defaults when the table is absent).
pub fn license_config_from_file(path: &Path) -> Result<LicenseConfig, LicenseError> {
    let text = std::fs::read_to_string(path).map_err(|e| LicenseError::io(path, e))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| LicenseError::Config {
        path: path.into(),
        reason: e.message().to_string(),
    })?;
    Ok(file.license)
}

/// Reads the trusted issuers' public key files.
pub fn load_trusted(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>, LicenseError> {
    Ok(bulwark_sign::read_trusted(paths)?)
}

/// A source of the current time, so that tests can move the clock.
pub trait Clock {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock (UTC).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The licence as the server holds it (behind a `Mutex`): open once at start, `check` per
/// object or periodically, `record_traffic` per object, `save` periodically and at shutdown.
#[derive(Debug)]
pub struct Licensing {
    config: LicenseConfig,
    trusted: Vec<VerifyingKey>,
    state: LicenseState,
}

impl Licensing {
    /// Loads the trusted issuer keys and the licence directory. Fails on an unreadable
    /// trusted key or traffic file, and when `required` is set without any trusted key.
    pub fn open(config: &LicenseConfig) -> Result<Self, LicenseError> {
        if config.required && config.trusted_keys.is_empty() {
            return Err(LicenseError::NoTrustedKeys);
        }
        let trusted = load_trusted(&config.trusted_keys)?;
        let state = LicenseState::load(&LicenseDir::new(&config.dir), &trusted)?;
        Ok(Licensing {
            config: config.clone(),
            trusted,
            state,
        })
    }

    /// Whether the licence is enforced (`[license] required`).
    pub fn required(&self) -> bool {
        self.config.required
    }

    /// The licence status at `now` (may promote the backup key; see `take_promotion`).
    pub fn check(&mut self, now: OffsetDateTime) -> LicenseStatus {
        self.state.evaluate(now)
    }

    /// Counts scanned bytes for today's quota.
    pub fn record_traffic(&mut self, bytes: u64, now: OffsetDateTime) {
        self.state.record_traffic(bytes, now);
    }

    /// Days left when the licence expires within 14 days with no backup key, for a warning.
    pub fn expiring_soon(&self, now: OffsetDateTime) -> Option<i64> {
        self.state.expiring_soon(now)
    }

    /// Whether a database published at `published` may be loaded (call `check` first).
    pub fn allows_database(&self, published: OffsetDateTime) -> bool {
        self.state.allows_database(published)
    }

    /// The backup key's promotion since the last call, for the log.
    pub fn take_promotion(&mut self) -> Option<Promotion> {
        self.state.take_promotion()
    }

    /// Writes the traffic counter and a promoted backup key to the licence directory.
    pub fn save(&mut self) -> Result<(), LicenseError> {
        self.state.save()
    }

    /// Re-reads the installed keys (e.g. on SIGHUP/SIGUSR1 after `bulwark license add`).
    pub fn reload(&mut self) -> Result<(), LicenseError> {
        self.state.reload_keys(&self.trusted)
    }

    /// The underlying state (installed keys, traffic).
    pub fn state(&self) -> &LicenseState {
        &self.state
    }
}
