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
//! The file is an exact `bulwark_sign::Envelope`: the signed body is every byte before the line
//! starting with `Signature: `, exactly as stored, and that line ends the file; verifiers check
//! the signature over those bytes (`verify_strict`) and only then parse them. `Version`
//! only grows; `Signer` is the key id (`bulwark_sign::key_id`) of the signing key.
//! File names are 1–128 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`, unique.

use bulwark_sign::{find_key, key_id, seal, Envelope, EnvelopeError, SigningKey, VerifyingKey};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::UpdateError;
pub use crate::hex::hex;

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
        Ok(seal(&self.body()?, key).text)
    }

    /// Verifies `bytes` (a downloaded index) against the trusted keys, then parses it.
    pub fn verify(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<Index, UpdateError> {
        let envelope = open(bytes)?;
        let body = envelope.body();
        let signer = signer_of(body)?;
        let key = find_key(trusted, &signer)
            .ok_or_else(|| UpdateError::Signature(format!("signer {signer} is not trusted")))?;
        envelope.verify(key).map_err(envelope_error)?;
        parse_body(body)
    }

    /// Parses an index without checking its signature (for the installed copy, which was
    /// verified when installed). An unsigned body (no `Signature:` line) is accepted too.
    pub fn parse_unverified(bytes: &[u8]) -> Result<Index, UpdateError> {
        match open(bytes) {
            Ok(envelope) => parse_body(envelope.body()),
            Err(_) => parse_body(bytes),
        }
    }

    /// The entry for `name`.
    pub fn file(&self, name: &str) -> Option<&IndexFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Splits a signed index (an exact envelope) into the signed body and the signature.
fn open(bytes: &[u8]) -> Result<Envelope<'_>, UpdateError> {
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(UpdateError::Index("too large".into()));
    }
    Envelope::parse(bytes).map_err(envelope_error)
}

/// The index's own wording for an envelope problem: a missing or wrong signature is a
/// signature error, a damaged signature line an index error.
fn envelope_error(e: EnvelopeError) -> UpdateError {
    let index = |r: &str| UpdateError::Index(r.into());
    let signature = |r: &str| UpdateError::Signature(r.into());
    match e {
        EnvelopeError::Unsigned => signature("the index is not signed"),
        EnvelopeError::NotUtf8 => index("the signature line is not UTF-8"),
        EnvelopeError::NoFinalNewline => {
            index("the signature line must end the file with a newline")
        }
        EnvelopeError::TextAfter { .. } => index("text after the signature line"),
        EnvelopeError::Encoding { .. } => signature("the signature is not 64 base64 bytes"),
        EnvelopeError::Mismatch(_) => signature("the signature does not match"),
    }
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

    /// An index signed before indexes moved onto `bulwark-sign` (key seed 0x11 × 32) still
    /// verifies, and signing the same index today writes the same bytes.
    #[test]
    fn an_existing_signed_index_still_verifies() {
        const OLD: &str = "Bulwark-DB-Index: 1\nVersion: 7\nPublished: 2025-01-01T00:00:00Z\n\
            File: test.ndb 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n\
            Signer: 10ba682c8ad13513\n\
            Signature: as5YGqcSUKPEOJsbr4GBPYPyR+gmAS+ektrzX+rgO0DAYEB0jA1GB/3FqYiFxUCb7lVePLsdiJEDyZywBg/PCw==\n";
        let key = SigningKey::from_bytes(&[0x11; 32]);
        let mut index = Index::verify(OLD.as_bytes(), &[key.verifying_key()]).unwrap();
        assert_eq!((index.version, index.files.len()), (7, 1));
        assert_eq!(index.sign(&key).unwrap(), OLD);
        let errors = [
            (OLD.replace("Signature: ", "Signature:\n"), "not signed"),
            (OLD.trim_end().to_string(), "end the file with a newline"),
            (format!("{OLD}\n"), "text after the signature line"),
            (OLD.replace("as5YG", "x"), "not 64 base64 bytes"),
            (OLD.replace("Signer: 10", "Signer: 20"), "is not trusted"),
        ];
        for (text, want) in errors {
            let e = Index::verify(text.as_bytes(), &[key.verifying_key()]).unwrap_err();
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
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
