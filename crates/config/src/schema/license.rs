//! `[license]`: licence enforcement (run by the `bulwark-license` crate).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where installed licence keys and the traffic counter live by default.
pub const DEFAULT_LICENSE_DIR: &str = "/var/lib/bulwark/license";

/// The `[license]` configuration table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicenseConfig {
    /// Enforce the licence: without a usable key every object gets `LicenseErrorAction`.
    pub required: bool,
    /// The licence directory (installed keys and the traffic counter).
    pub dir: PathBuf,
    /// Public key files of the trusted issuers.
    pub trusted_keys: Vec<PathBuf>,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        LicenseConfig {
            required: false,
            dir: PathBuf::from(DEFAULT_LICENSE_DIR),
            trusted_keys: Vec::new(),
        }
    }
}
