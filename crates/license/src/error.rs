//! The errors of this crate.

use std::path::PathBuf;

use bulwark_sign::KeyError;
use time::Date;

/// A date that is not `YYYY-MM-DD` ([`crate::parse_date`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("bad date `{text}` (expected YYYY-MM-DD): {source}")]
pub struct DateError {
    /// The text given.
    pub text: String,
    /// Why `time` refused it.
    pub source: time::error::Parse,
}

/// A licence type other than `commercial`, `trial` or `test` ([`crate::LicenseType`]'s
/// `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown licence type `{0}` (commercial, trial or test)")]
pub struct LicenseTypeError(pub String);

/// Errors of licence keys, the licence directory and the licence manager.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An issuer key file could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A licence key file is not in the documented format.
    #[error("not a valid Bulwark licence key: line {line}: {reason}")]
    Malformed {
        /// 1-based line number (0 when the problem is not on one line).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The signature does not match the body: the key file was modified after it was signed.
    #[error(
        "licence key {serial} is damaged or was tampered with: its signature does not match its contents"
    )]
    Tampered {
        /// The serial number the (modified) body claims.
        serial: String,
    },
    /// The key was signed by an issuer that is not trusted.
    #[error(
        "licence key {serial} was issued by {issuer}, which is not a trusted issuer \
         (add its public key to [license] trusted_keys or pass --trusted-key FILE)"
    )]
    WrongIssuer {
        /// The serial number.
        serial: String,
        /// The key id of the issuer the key names.
        issuer: String,
    },
    /// The key was issued for another product (by a trusted issuer).
    #[error("licence key {serial} is for {product:?}, not for {expected:?}")]
    WrongProduct {
        /// The serial number.
        serial: String,
        /// The product the key names.
        product: String,
        /// This product.
        expected: String,
    },
    /// No trusted issuer public key is configured, so no key can be verified.
    #[error(
        "no trusted issuer key: set [license] trusted_keys in the configuration or pass --trusted-key FILE"
    )]
    NoTrustedKeys,
    /// The key's expiry date has passed.
    #[error("licence key {serial} expired on {expired_on}")]
    Expired {
        /// The serial number.
        serial: String,
        /// The first day on which the key is no longer valid.
        expired_on: Date,
    },
    /// The key's start date has not come yet.
    #[error("licence key {serial} is not valid before {valid_from}")]
    NotYetValid {
        /// The serial number.
        serial: String,
        /// The first day on which the key is valid.
        valid_from: Date,
    },
    /// The key being added is already installed.
    #[error("licence key {serial} is already installed as the {slot} key")]
    AlreadyInstalled {
        /// The serial number.
        serial: String,
        /// `active` or `backup`.
        slot: &'static str,
    },
    /// Both the active and the backup slot are taken.
    #[error(
        "an active and a backup key are already installed; remove the backup key first (remove-backup)"
    )]
    BackupTaken,
    /// There is no key in the slot a command wants to remove.
    #[error("there is no {slot} key to remove")]
    NoKeyInSlot {
        /// `active` or `backup`.
        slot: &'static str,
    },
    /// The daily traffic counter file is damaged.
    #[error("{}: damaged traffic counter: {reason} (delete the file to reset today's count)", path.display())]
    Traffic {
        /// The counter file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `[license]` configuration table could not be read.
    #[error("{}: [license]: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Options given to `issue` are not usable.
    #[error("{0}")]
    Invalid(String),
}

impl LicenseError {
    /// Builds an [`LicenseError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LicenseError::Io {
            path: path.into(),
            source,
        }
    }
}
