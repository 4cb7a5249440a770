//! Decoding errors, each mapped to the ICAP status the server answers with.

/// What went wrong, coarse enough to choose an ICAP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed syntax anywhere (request line, header, Encapsulated, chunk): 400.
    BadRequest,
    /// A method this server does not know: 501 (ICAP's "Method not implemented").
    MethodNotImplemented,
    /// A version other than ICAP/1.0: 505.
    VersionNotSupported,
    /// The ICAP head or an encapsulated head exceeds the configured limit: 400 (the
    /// connection is closed, since the rest cannot be framed reliably).
    HeaderTooLarge,
}

impl ErrorKind {
    /// The ICAP status code a server answers with for this error.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::HeaderTooLarge => 400,
            ErrorKind::MethodNotImplemented => 501,
            ErrorKind::VersionNotSupported => 505,
        }
    }
}

/// A decoding error: its kind and a human-readable reason for logs and the error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Error {
    /// The class of error.
    pub kind: ErrorKind,
    /// What exactly was wrong, e.g. `Encapsulated offsets not increasing`.
    pub reason: String,
}

impl Error {
    /// Builds an error of `kind` with `reason`.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}
