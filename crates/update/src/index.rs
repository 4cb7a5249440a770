//! The update index: what a Bulwark database version consists of, signed with Ed25519.
//!
//! `bulwark-db.index` is UTF-8 text, LF line endings, fields in this order:
//!
//! ```text
//! Bulwark-DB-Index: 1
//! Version: 1717171717
//! Published: 2025-01-01T00:00:00Z
//! File: daily.ndb 1234 <64 hex digits of SHA-256>
//! File: main.hdb 99 <…>
//! Signer: 3f0c9a7e1b2d4c55
//! Signature: <standard base64 of the 64-byte Ed25519 signature>
//! ```
//!
//! The signed body is every byte before the line starting with `Signature: `, exactly as
//! stored; verifiers check the signature over those bytes and only then parse them. `Version`
//! only grows; `Signer` is the key id (`bulwark_sign::key_id`) of the signing key.
//! File names are 1–128 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`, unique.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bulwark_sign::{key_id, SigningKey, VerifyingKey};
use ed25519_dalek::{Signature, Signer as _};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::UpdateError;

/// The index file's name on a mirror and in an installed database directory.
pub const INDEX_FILE: &str = "bulwark-db.index";
/// The first line of an index.
pub const FORMAT_LINE: &str = "Bulwark-DB-Index: 1";
/// Largest index accepted.
pub const MAX_INDEX_BYTES: u64 = 1 << 20;
/// Most files an index may list.
pub const MAX_FILES: usize = 10_000;

/// One file of a database version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// File name (no directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
}

/// A parsed update index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The database version; a newer database has a larger version.
    pub version: u64,
    /// When it was published (UTC).
    pub published: OffsetDateTime,
    /// Its files, in the order listed.
    pub files: Vec<IndexFile>,
    /// Key id of the signer (empty in an unsigned body).
    pub signer: String,
}

/// Whether `name` is acceptable as a file name from an index (no path, no hidden file).
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Index {
    /// The text to sign: every line from the format line through `Signer:`.
    pub fn body(&self) -> Result<String, UpdateError> {
        let published = self
            .published
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .map_err(|e| UpdateError::Index(e.to_string()))?
            .format(&Rfc3339)
            .map_err(|e| UpdateError::Index(e.to_string()))?;
        let mut s = format!(
            "{FORMAT_LINE}\nVersion: {}\nPublished: {published}\n",
            self.version
        );
        for f in &self.files {
            if !safe_name(&f.name) {
                return Err(UpdateError::Index(format!("unsafe file name {:?}", f.name)));
            }
            s.push_str(&format!("File: {} {} {}\n", f.name, f.size, hex(&f.sha256)));
        }
        s.push_str(&format!("Signer: {}\n", self.signer));
        Ok(s)
    }

    /// The complete signed index text, signed with `key` (sets `signer` to its key id).
    pub fn sign(&mut self, key: &SigningKey) -> Result<String, UpdateError> {
        self.signer = key_id(&key.verifying_key());
        let body = self.body()?;
        let sig = key.sign(body.as_bytes());
        Ok(format!(
            "{body}Signature: {}\n",
            STANDARD.encode(sig.to_bytes())
        ))
    }

    /// Verifies `bytes` (a downloaded index) against the trusted keys, then parses it.
    pub fn verify(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<Index, UpdateError> {
        let (body, sig_line) = split_signature(bytes)?;
        let signer = signer_of(body)?;
        let key = trusted
            .iter()
            .find(|k| key_id(k) == signer)
            .ok_or_else(|| UpdateError::Signature(format!("signer {signer} is not trusted")))?;
        let sig = STANDARD
            .decode(sig_line)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| UpdateError::Signature("the signature is not 64 base64 bytes".into()))?;
        key.verify_strict(body, &Signature::from_bytes(&sig))
            .map_err(|_| UpdateError::Signature("the signature does not match".into()))?;
        parse_body(body)
    }

    /// Parses an index without checking its signature (for the installed copy, which was
    /// verified when installed). An unsigned body (no `Signature:` line) is accepted too.
    pub fn parse_unverified(bytes: &[u8]) -> Result<Index, UpdateError> {
        match split_signature(bytes) {
            Ok((body, _)) => parse_body(body),
            Err(_) => parse_body(bytes),
        }
    }

    /// The entry for `name`.
    pub fn file(&self, name: &str) -> Option<&IndexFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Splits a signed index into the signed body and the base64 signature.
fn split_signature(bytes: &[u8]) -> Result<(&[u8], &str), UpdateError> {
    let bad = |r: &str| UpdateError::Index(r.into());
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(bad("too large"));
    }
    let marker = b"\nSignature: ";
    let pos = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .ok_or_else(|| UpdateError::Signature("the index is not signed".into()))?;
    let body = &bytes[..pos + 1];
    let rest = std::str::from_utf8(&bytes[pos + marker.len()..])
        .map_err(|_| bad("the signature line is not UTF-8"))?;
    let sig = rest
        .strip_suffix('\n')
        .ok_or_else(|| bad("the signature line must end the file with a newline"))?;
    if sig.contains('\n') || sig.contains('\r') {
        return Err(bad("text after the signature line"));
    }
    Ok((body, sig))
}

fn signer_of(body: &[u8]) -> Result<String, UpdateError> {
    let text = std::str::from_utf8(body).map_err(|_| UpdateError::Index("not UTF-8".into()))?;
    text.lines()
        .last()
        .and_then(|l| l.strip_prefix("Signer: "))
        .map(str::to_string)
        .ok_or_else(|| {
            UpdateError::Index("the last line before the signature is not Signer:".into())
        })
}

fn parse_body(body: &[u8]) -> Result<Index, UpdateError> {
    let text = std::str::from_utf8(body).map_err(|_| UpdateError::Index("not UTF-8".into()))?;
    let bad = |line: usize, r: &str| UpdateError::Index(format!("line {line}: {r}"));
    if text.contains('\r') {
        return Err(UpdateError::Index("carriage return".into()));
    }
    if !text.ends_with('\n') {
        return Err(UpdateError::Index("the last line has no newline".into()));
    }
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut next = |want: &str| -> Result<(usize, String), UpdateError> {
        let (n, l) = lines
            .next()
            .ok_or_else(|| UpdateError::Index(format!("missing {want}")))?;
        Ok((n, l.to_string()))
    };
    let (n, l) = next("format line")?;
    if l != FORMAT_LINE {
        return Err(bad(n, "not a Bulwark update index (version 1)"));
    }
    let (n, l) = next("Version")?;
    let version = l
        .strip_prefix("Version: ")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| bad(n, "expected Version: <number>"))?;
    let (n, l) = next("Published")?;
    let published = l
        .strip_prefix("Published: ")
        .and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok())
        .ok_or_else(|| bad(n, "expected Published: <RFC 3339 time>"))?;
    let mut files: Vec<IndexFile> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let signer = loop {
        let (n, l) = next("Signer")?;
        if let Some(s) = l.strip_prefix("Signer: ") {
            break s.to_string();
        }
        let rest = l
            .strip_prefix("File: ")
            .ok_or_else(|| bad(n, "expected File: or Signer:"))?;
        let parts: Vec<&str> = rest.split(' ').collect();
        let [name, size, digest] = parts.as_slice() else {
            return Err(bad(n, "expected File: <name> <size> <sha256>"));
        };
        if !safe_name(name) {
            return Err(bad(n, "unsafe file name"));
        }
        if !names.insert(name.to_string()) {
            return Err(bad(n, "file listed twice"));
        }
        if files.len() >= MAX_FILES {
            return Err(bad(n, "too many files"));
        }
        let size = Some(*size)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad(n, "bad size"))?;
        let sha256 = parse_hex32(digest).ok_or_else(|| bad(n, "bad SHA-256"))?;
        files.push(IndexFile {
            name: name.to_string(),
            size,
            sha256,
        });
    };
    if let Some((n, _)) = lines.next() {
        return Err(bad(n, "text after Signer:"));
    }
    Ok(Index {
        version,
        published,
        files,
        signer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        Index {
            version: 7,
            published: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            files: vec![IndexFile {
                name: "a.ndb".into(),
                size: 3,
                sha256: [1; 32],
            }],
            signer: String::new(),
        }
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let text = sample().sign(&key).unwrap();
        let got = Index::verify(text.as_bytes(), &[key.verifying_key()]).unwrap();
        assert_eq!(got.version, 7);
        assert_eq!(got.files, sample().files);
        assert!(matches!(
            Index::verify(text.as_bytes(), &[other.verifying_key()]),
            Err(UpdateError::Signature(_))
        ));
        let tampered = text.replace("Version: 7", "Version: 8");
        assert!(matches!(
            Index::verify(tampered.as_bytes(), &[key.verifying_key()]),
            Err(UpdateError::Signature(_))
        ));
        let trailing = format!("{text}x\n");
        assert!(Index::verify(trailing.as_bytes(), &[key.verifying_key()]).is_err());
    }

    #[test]
    fn hostile_names_are_refused() {
        for n in ["../x", ".hidden", "a/b", "", "a b"] {
            assert!(!safe_name(n), "{n:?}");
        }
        let mut i = sample();
        i.files[0].name = "../etc".into();
        assert!(i.sign(&SigningKey::from_bytes(&[9; 32])).is_err());
        let body = format!(
            "{FORMAT_LINE}\nVersion: 1\nPublished: 2025-01-01T00:00:00Z\nFile: ../x 1 {}\nSigner: x\n",
            "00".repeat(32)
        );
        assert!(Index::parse_unverified(body.as_bytes()).is_err());
    }
}
