//! Bulwark's Ed25519 signatures, shared by licence keys (`bulwark-license`) and database
//! update indexes (`bulwark-update`). To sign a file: [`generate`] a key and [`write_pair`] it
//! (`PREFIX` secret, `PREFIX.pub` public), later [`read_secret`] it and [`seal`] a text body,
//! which appends the `Signature: <base64>` line. To check one: [`read_trusted`] the public key
//! files, split the text with [`Envelope::parse`] (or [`Envelope::parse_lenient`]), pick the key
//! the body names with [`find_key`] (by [`key_id`]), then [`Envelope::verify`] — always
//! `verify_strict` — and parse the body only after that. The formats are in README.md.
//!
//! - `keys`: the key-pair files and key ids.
//! - `envelope`: [`Envelope`] and [`seal`].
//! - `signature`: [`sign`] and [`verify`] over raw bytes.

mod envelope;
mod error;
mod keys;
mod signature;

/// The Ed25519 types of the API (from `ed25519-dalek`), re-exported for callers.
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use envelope::{seal, Envelope, Sealed, SIGNATURE_PREFIX};
pub use error::{BadSignature, EnvelopeError, KeyError};
pub use keys::{
    find_key, generate, key_id, public_path, read_public, read_secret, read_trusted, write_pair,
    PUBLIC_HEADER, SECRET_HEADER,
};
pub use signature::{sign, verify};
