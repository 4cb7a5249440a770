//! What the licence allows at a given moment.

use std::fmt;

use time::Date;

use crate::keyfile::format_date;

/// Days before expiry from which [`crate::LicenseState::expiring_soon`] warns.
pub const WARN_DAYS: i64 = 14;

/// The state of the licence at one moment, from [`crate::LicenseState::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseStatus {
    /// A valid key is active.
    Valid {
        /// Serial of the active key.
        serial: String,
        /// First day on which it is no longer valid.
        expires: Date,
        /// Whole days left (0 on the last day).
        days_left: i64,
        /// Bytes left in today's quota; `None` when there is no quota.
        traffic_left: Option<u64>,
    },
    /// No key is installed.
    NoKey,
    /// The installed key cannot be used (damaged, tampered, untrusted issuer).
    Invalid {
        /// Why.
        reason: String,
    },
    /// The active key has expired and no valid backup could take over. Scanning may go on
    /// with the databases published before `expired_on` (see `allows_database`).
    Expired {
        /// Serial of the expired key.
        serial: String,
        /// First day on which it was no longer valid.
        expired_on: Date,
    },
    /// The active key's first day has not come yet.
    NotYetValid {
        /// Serial of the key.
        serial: String,
        /// Its first valid day.
        valid_from: Date,
    },
    /// Today's traffic quota is used up.
    QuotaExhausted {
        /// Serial of the active key.
        serial: String,
        /// The daily quota in MB.
        quota_mb: u64,
        /// Bytes counted today.
        used: u64,
    },
}

impl LicenseStatus {
    /// `true` only for [`LicenseStatus::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, LicenseStatus::Valid { .. })
    }

    /// The suggested policy: scan with a valid or an expired key (the seed keeps scanning
    /// with old databases after expiry); everything else is a licence error.
    pub fn allows_scanning(&self) -> bool {
        matches!(
            self,
            LicenseStatus::Valid { .. } | LicenseStatus::Expired { .. }
        )
    }
}

impl fmt::Display for LicenseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LicenseStatus::Valid {
                serial,
                expires,
                days_left,
                ..
            } => write!(
                f,
                "valid (key {serial}, expires {}, {days_left} days left)",
                format_date(*expires)
            ),
            LicenseStatus::NoKey => f.write_str("no licence key installed"),
            LicenseStatus::Invalid { reason } => write!(f, "invalid: {reason}"),
            LicenseStatus::Expired { serial, expired_on } => {
                write!(
                    f,
                    "expired (key {serial} expired on {})",
                    format_date(*expired_on)
                )
            }
            LicenseStatus::NotYetValid { serial, valid_from } => write!(
                f,
                "not yet valid (key {serial} is valid from {})",
                format_date(*valid_from)
            ),
            LicenseStatus::QuotaExhausted {
                serial, quota_mb, ..
            } => write!(
                f,
                "daily traffic quota exhausted (key {serial}: {quota_mb} MB per day)"
            ),
        }
    }
}
