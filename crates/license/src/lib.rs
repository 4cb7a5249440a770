//! Bulwark's licence keys (issue #8, SPEC F-LIC). A licence key is a `Key: value` text signed
//! by an issuer (a `bulwark-sign` envelope, verified strictly); the server holds a
//! [`Licensing`] opened from its [`LicenseConfig`](bulwark_config::LicenseConfig) and asks it,
//! per object, whether scanning is allowed. Issuer key pairs are `bulwark-sign`'s key files (`bulwark license keygen`).
//!
//! - [`LicenseKey`] / [`SignedKey`]: the signed key-file format (see README.md).
//! - [`LicenseDir`]: the licence directory (`active.key`, `backup.key`, `traffic`).
//! - [`LicenseState`]: enforcement logic with an explicit `now`; [`Licensing`]: the handle
//!   the server holds; built from the `[license]` table ([`bulwark_config::LicenseConfig`]).
//! - [`cli_ops`]: the `bulwark license …` commands, returning their output as text.

pub mod cli_ops;
mod error;
mod handle;
mod keyfile;
mod state;
mod status;
mod store;
mod traffic;

/// The key types of the API (from `bulwark-sign`), re-exported for callers.
pub use bulwark_sign::{KeyError, VerifyingKey};
pub use error::{DateError, LicenseError, LicenseTypeError};
pub use handle::{license_config_from_file, load_trusted, Clock, Licensing, SystemClock};
pub use keyfile::{
    format_date, parse_date, LicenseKey, LicenseType, SignedKey, DEFAULT_PRODUCT, FORMAT_LINE,
};
pub use state::{Installed, LicenseState, Promotion};
pub use status::{LicenseStatus, WARN_DAYS};
pub use store::{LicenseDir, Slot, ACTIVE_FILE, BACKUP_FILE, MAX_FILE_BYTES, TRAFFIC_FILE};
/// The date and time types of the API (from the `time` crate), re-exported for callers.
pub use time::{Date, OffsetDateTime};
pub use traffic::TrafficCounter;
