//! Errors of the update machinery.

use std::path::PathBuf;

/// Why an update (or a publishing command) failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The configuration could not be read or is inconsistent (exit code 75).
    #[error("configuration {path}: {reason}")]
    Config {
        /// The file (or the option) at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file could not be read or written.
    #[error(transparent)]
    Key(#[from] bulwark_sign::KeyError),
    /// Downloading from a source failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The update index is malformed.
    #[error("update index: {0}")]
    Index(String),
    /// The index is not signed by a trusted key, or its signature does not match.
    #[error("update index signature: {0}")]
    Signature(String),
    /// A file does not match the size or SHA-256 the signed index gives.
    #[error("{name}: {reason}")]
    Mismatch {
        /// The file name.
        name: String,
        /// What differs.
        reason: String,
    },
    /// The source offers an older database than the installed one (rollback refused).
    #[error("the source offers version {offered}, older than the installed {installed}: refused")]
    Older {
        /// Version offered.
        offered: String,
        /// Version installed.
        installed: String,
    },
    /// The new database failed its test load; nothing was installed.
    #[error("the new database does not load: {0}")]
    Load(String),
    /// A ClamAV container is malformed or its digital signature does not verify.
    #[error("{name}: {reason}")]
    Cvd {
        /// The file.
        name: String,
        /// What is wrong.
        reason: crate::cvd::CvdError,
    },
    /// The licence does not allow this update (exit code 60).
    #[error("licence: {0}")]
    License(String),
    /// The running server refused or failed the reload (the install was rolled back).
    #[error("reload: {0}")]
    Reload(String),
    /// Another update holds the lock.
    #[error("another update is running (lock {0})")]
    Locked(PathBuf),
    /// Nothing could be done with any source.
    #[error("no source worked: {0}")]
    AllSourcesFailed(String),
}

impl UpdateError {
    /// The error for an I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        UpdateError::Io {
            path: path.into(),
            source,
        }
    }
}

/// A download failure.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The file is not on the source (HTTP 404, or no such file in the directory).
    #[error("{0}: not found")]
    NotFound(String),
    /// The server answered with another unexpected status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL (credentials removed).
        url: String,
        /// The status code.
        status: u16,
    },
    /// Network, TLS or proxy failure, or a transfer cut short.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL (credentials removed).
        url: String,
        /// What failed.
        reason: String,
    },
    /// The file is larger than allowed.
    #[error("{url}: larger than {limit} bytes")]
    TooLarge {
        /// The URL or path.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// Writing the downloaded file failed.
    #[error("{path}: {source}")]
    Io {
        /// The local file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl FetchError {
    /// Whether trying again may help (network failures and 5xx answers).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Transport { .. } => true,
            FetchError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
