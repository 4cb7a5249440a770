//! Ed25519 key-pair files: the issuers of licence keys and the signers of update indexes.
//!
//! A key pair is written as two text files:
//!
//! - `PREFIX`, the secret key (mode 0600):
//!   ```text
//!   bulwark-ed25519-secret-key-v1
//!   <standard base64 of the 32-byte Ed25519 seed>
//!   ```
//! - `PREFIX.pub`, the public key:
//!   ```text
//!   bulwark-ed25519-public-key-v1
//!   <standard base64 of the 32-byte Ed25519 public key>
//!   ```
//!
//! Lines starting with `#` and blank lines are ignored when reading; `write_pair` adds a
//! `# key id …` comment. The key id ([`key_id`]) is the hex of the first 8 bytes of the
//! SHA-256 of the public key: it names the issuer in signed files.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::KeyError;

/// First line of a secret key file.
pub const SECRET_HEADER: &str = "bulwark-ed25519-secret-key-v1";
/// First line of a public key file.
pub const PUBLIC_HEADER: &str = "bulwark-ed25519-public-key-v1";

/// Generates a new signing key from the operating system's random number generator.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The short, stable name of a public key: hex of the first 8 bytes of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The path of the public half of the pair at `prefix`: `PREFIX.pub`.
pub fn public_path(prefix: &Path) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Writes `PREFIX` (secret, mode 0600) and `PREFIX.pub` (public); refuses to overwrite either.
pub fn write_pair(prefix: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let public = public_path(prefix);
    for p in [prefix, public.as_path()] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.into() });
        }
    }
    let id = key_id(&key.verifying_key());
    let secret_text = format!(
        "{SECRET_HEADER}\n# key id {id}: keep this file private\n{}\n",
        STANDARD.encode(key.to_bytes())
    );
    let public_text = format!(
        "{PUBLIC_HEADER}\n# key id {id}\n{}\n",
        STANDARD.encode(key.verifying_key().as_bytes())
    );
    write_new(prefix, secret_text.as_bytes(), 0o600)?;
    write_new(&public, public_text.as_bytes(), 0o644)
}

/// Reads a secret key file written by [`write_pair`].
pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    let bytes = read_key_bytes(path, SECRET_HEADER, "secret")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key file written by [`write_pair`].
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read_key_bytes(path, PUBLIC_HEADER, "public")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Format {
        path: path.into(),
        kind: "public",
        reason: "the 32 bytes are not a valid Ed25519 public key".into(),
    })
}

/// Reads the public key files of the trusted signers (`trusted_keys` in the configuration),
/// in order; the first unreadable one is the error.
pub fn read_trusted(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>, KeyError> {
    paths.iter().map(|p| read_public(p)).collect()
}

/// The key of `trusted` whose [`key_id`] is `id` (the signer a signed file names).
pub fn find_key<'k>(trusted: &'k [VerifyingKey], id: &str) -> Option<&'k VerifyingKey> {
    trusted.iter().find(|k| key_id(k) == id)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn read_key_bytes(path: &Path, header: &str, kind: &'static str) -> Result<[u8; 32], KeyError> {
    let format = |reason: &str| KeyError::Format {
        path: path.into(),
        kind,
        reason: reason.into(),
    };
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some(h) if h == header => {}
        Some(h) if h == SECRET_HEADER || h == PUBLIC_HEADER => {
            return Err(format(&format!("found `{h}`, expected `{header}`")))
        }
        _ => return Err(format(&format!("the first line must be `{header}`"))),
    }
    let b64 = lines
        .next()
        .ok_or_else(|| format("the base64 key line is missing"))?;
    if lines.next().is_some() {
        return Err(format("unexpected text after the key line"));
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|e| format(&format!("bad base64: {e}")))?;
    raw.try_into()
        .map_err(|v: Vec<u8>| format(&format!("the key is {} bytes, expected 32", v.len())))
}
