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
    /// Whether a file listed by the index was missing from the source or differed from what
    /// the index says (its digest, or a size past the index's): what a mirror that publishes a
    /// new version while files are downloaded looks like (the index read before, the files
    /// after), so reading the index again may help.
    pub fn may_be_torn(&self) -> bool {
        matches!(
            self,
            UpdateError::Mismatch { .. }
                | UpdateError::Fetch(FetchError::NotFound(_) | FetchError::TooLarge { .. })
        )
    }

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

/// A source, as written in the configuration or on the command line, that cannot be used
/// ([`crate::fetch::SourceSpec::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A URL scheme other than `http`, `https` or `file`.
    #[error("{0}: unsupported scheme (http, https, file or a path)")]
    UnsupportedScheme(String),
    /// Nothing after an optional `clamav:`.
    #[error("empty source")]
    Empty,
}

/// The HTTP proxy given to [`crate::fetch::Fetcher::new`] is not usable.
#[derive(Debug, thiserror::Error)]
#[error("proxy {proxy}: {source}")]
pub struct ProxyError {
    /// The proxy URL (credentials removed).
    pub proxy: String,
    /// Why ureq refused it.
    pub source: ureq::Error,
}

/// The running server's reload through its control socket failed
/// ([`crate::hooks::reload_via_socket`]).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Connecting, writing or reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The control socket.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The server closed the connection without answering.
    #[error("the server closed the control connection without an answer")]
    NoAnswer,
    /// The server refused: its answer line (`ERROR …`).
    #[error("{0}")]
    Refused(String),
}

/// PostUpdateCmd cannot be split into arguments ([`crate::hooks::split_args`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandLineError {
    /// A backslash ends the command.
    #[error("trailing backslash")]
    TrailingBackslash,
    /// A quote is not closed.
    #[error("unterminated quote")]
    UnterminatedQuote,
    /// No argument at all.
    #[error("empty command")]
    Empty,
}

/// PostUpdateCmd failed ([`crate::hooks::run_post_update`]).
#[derive(Debug, thiserror::Error)]
pub enum PostUpdateError {
    /// The command line cannot be split.
    #[error(transparent)]
    CommandLine(#[from] CommandLineError),
    /// The program could not be started.
    #[error("{program}: {source}")]
    Start {
        /// The program (first argument).
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("{program}: {status} {stderr}")]
    Failed {
        /// The program (first argument).
        program: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of what it wrote to stderr (at most 400 characters), trimmed.
        stderr: String,
    },
}
