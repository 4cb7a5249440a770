//! The errors of this crate.

use std::path::PathBuf;

/// Errors of the key-pair files ([`crate::write_pair`], [`crate::read_secret`],
/// [`crate::read_public`]).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file is not in the documented format.
    #[error("{}: not a Bulwark {kind} key file: {reason}", path.display())]
    Format {
        /// The key file.
        path: PathBuf,
        /// `secret` or `public`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `write_pair` refuses to overwrite an existing key file.
    #[error("{}: already exists; refusing to overwrite a key file", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The system's random number generator failed.
    #[error("cannot get random bytes for a new key: {0}")]
    Random(String),
}

/// Why a signed text ([`crate::Envelope`]) cannot be read or does not verify. Line numbers
/// are 1-based lines of the whole text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// There is no `Signature: ` line.
    #[error("no `Signature:` line")]
    Unsigned,
    /// The signature line is not UTF-8 text.
    #[error("the signature line is not UTF-8")]
    NotUtf8,
    /// The signature line does not end with a newline (exact envelopes only).
    #[error("the signature line must end the file with a newline")]
    NoFinalNewline,
    /// Something follows the signature line.
    #[error("line {line}: text after the signature line")]
    TextAfter {
        /// The first line after the signature line.
        line: usize,
    },
    /// The signature is not 64 bytes of standard base64.
    #[error("line {line}: the signature is not 64 bytes of base64")]
    Encoding {
        /// The signature line.
        line: usize,
    },
    /// The signature does not verify (strictly) over the body with the key tried.
    #[error(transparent)]
    Mismatch(#[from] BadSignature),
}

/// A signature that does not verify with the key tried ([`crate::verify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not match")]
pub struct BadSignature;
