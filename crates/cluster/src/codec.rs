//! What goes into Redis: keys (namespaced, fixed length, derived from what decides a verdict)
//! and values (compact, tagged with their format, bounded in size).
//!
//! A key is `PREFIX` + `b:` (blocked objects) or `v:` (verdicts) + 64 hex digits of a blake3
//! digest over a domain tag, the product version and the identity of the object, so instances
//! of another version never read this version's entries. A value is
//!
//! ```text
//! "bw" 0x01 | status (1 byte) | threat count (1 byte) | per threat: name, path
//! ```
//!
//! with each string as a little-endian u16 length and its UTF-8 bytes. A value that does not
//! start with this tag (a future format, another application's key) is ignored, never misread.

use bulwark_engine::{Status, Threat, Verdict, VerdictKey};

/// The tag of format 1: the first bytes of every value.
const TAG: &[u8; 3] = b"bw\x01";

/// Largest value written or read, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Most threats a value carries (a verdict with more is not shared).
const MAX_THREATS: usize = 64;

/// The identity of a downloaded object in the shared blocked-object cache: a digest of its
/// URL, validators and scanning options, as the local cache knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId([u8; 32]);

impl ObjectId {
    /// The identity of the object described by `fields` (each present or absent, in a fixed
    /// order chosen by the caller): absent and empty fields differ, and no two field lists
    /// digest alike by moving bytes from one field to the next.
    pub fn of(fields: &[Option<&[u8]>]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"bulwark-shared-blocked-1\0");
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(&[0]);
        for f in fields {
            match f {
                None => {
                    h.update(&[0]);
                }
                Some(b) => {
                    h.update(&[1]);
                    h.update(&(b.len() as u64).to_le_bytes());
                    h.update(b);
                }
            }
        }
        ObjectId(*h.finalize().as_bytes())
    }
}

/// Which shared cache a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// Downloads found infected.
    Blocked,
    /// Deep-scan verdicts by content, database and options.
    Verdict,
}

impl CacheKind {
    /// The label on /metrics.
    pub fn label(self) -> &'static str {
        match self {
            CacheKind::Blocked => "blocked",
            CacheKind::Verdict => "verdict",
        }
    }
}

/// The Redis key of a blocked object.
pub fn blocked_key(prefix: &str, id: &ObjectId) -> String {
    key(prefix, "b:", &id.0)
}

/// The Redis key of a verdict.
pub fn verdict_key(prefix: &str, k: &VerdictKey) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"bulwark-shared-verdict-1\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(&[0]);
    h.update(&k.0);
    key(prefix, "v:", h.finalize().as_bytes())
}

fn key(prefix: &str, kind: &str, digest: &[u8; 32]) -> String {
    let mut s = String::with_capacity(prefix.len() + kind.len() + 64);
    s.push_str(prefix);
    s.push_str(kind);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Status codes of format 1 (explicit: never the enum's declaration order).
fn status_code(s: Status) -> u8 {
    match s {
        Status::Clean => 0,
        Status::Infected => 1,
        Status::Suspicious => 2,
        Status::Warning => 3,
        Status::Cured => 4,
        Status::Protected => 5,
        Status::Corrupted => 6,
        Status::Error => 7,
        Status::TooLarge => 8,
        Status::LimitsExceeded => 9,
        Status::LicenseError => 10,
        Status::BasesError => 11,
    }
}

fn status_of(code: u8) -> Option<Status> {
    Some(match code {
        0 => Status::Clean,
        1 => Status::Infected,
        2 => Status::Suspicious,
        3 => Status::Warning,
        4 => Status::Cured,
        5 => Status::Protected,
        6 => Status::Corrupted,
        7 => Status::Error,
        8 => Status::TooLarge,
        9 => Status::LimitsExceeded,
        10 => Status::LicenseError,
        11 => Status::BasesError,
        _ => return None,
    })
}

/// A verdict as a value of format 1; `None` when it would exceed [`MAX_VALUE_BYTES`] or
/// carry more than 64 threats (such a verdict is simply not shared).
pub fn encode(v: &Verdict) -> Option<Vec<u8>> {
    if v.threats.len() > MAX_THREATS {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(TAG);
    out.push(status_code(v.status));
    out.push(u8::try_from(v.threats.len()).ok()?);
    for t in &v.threats {
        for s in [&t.name, &t.path] {
            let len = u16::try_from(s.len()).ok()?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        if out.len() > MAX_VALUE_BYTES {
            return None;
        }
    }
    Some(out)
}

/// Why a value was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It does not start with this format's tag (another format, another application).
    #[error("not a value of format 1")]
    Format,
    /// It starts like one but is cut short, too long or holds invalid text or status.
    #[error("a malformed value")]
    Malformed,
}

/// The verdict in a value of format 1.
pub fn decode(b: &[u8]) -> Result<Verdict, DecodeError> {
    let rest = b.strip_prefix(TAG).ok_or(DecodeError::Format)?;
    if b.len() > MAX_VALUE_BYTES {
        return Err(DecodeError::Malformed);
    }
    let mut r = Reader(rest);
    let status = status_of(r.byte()?).ok_or(DecodeError::Malformed)?;
    let n = r.byte()?;
    let mut threats = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let name = r.text()?;
        let path = r.text()?;
        threats.push(Threat::new(name, path));
    }
    if !r.0.is_empty() {
        return Err(DecodeError::Malformed);
    }
    // Only clean and infected verdicts are shared: no error detail travels.
    Ok(Verdict {
        status,
        threats,
        error: None,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let len = self.take(2)?;
        let n = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip_compactly() {
        let v = Verdict::infected(vec![
            Threat::new("Eicar-Signature", "a.zip/eicar.com"),
            Threat::new("Other", ""),
        ]);
        let b = encode(&v).expect("encodes");
        assert_eq!(b.len(), 3 + 2 + (2 + 15 + 2 + 15) + (2 + 5 + 2));
        assert_eq!(decode(&b), Ok(v));
        let clean = encode(&Verdict::clean()).expect("encodes");
        assert_eq!(clean, b"bw\x01\x00\x00");
        assert_eq!(decode(&clean), Ok(Verdict::clean()));
    }

    #[test]
    fn other_formats_and_damage_are_refused_not_misread() {
        assert_eq!(decode(b"bw\x02\x01\x00"), Err(DecodeError::Format));
        assert_eq!(decode(b"{\"json\":1}"), Err(DecodeError::Format));
        assert_eq!(decode(b""), Err(DecodeError::Format));
        assert_eq!(decode(b"bw\x01\x01"), Err(DecodeError::Malformed));
        assert_eq!(decode(b"bw\x01\x63\x00"), Err(DecodeError::Malformed));
        assert_eq!(
            decode(b"bw\x01\x01\x01\x05\x00ab"),
            Err(DecodeError::Malformed)
        );
        assert_eq!(decode(b"bw\x01\x00\x00x"), Err(DecodeError::Malformed));
        let mut long = b"bw\x01\x00\x00".to_vec();
        long.resize(MAX_VALUE_BYTES + 1, 0);
        assert_eq!(decode(&long), Err(DecodeError::Malformed));
    }

    #[test]
    fn oversized_verdicts_are_not_shared() {
        let many = Verdict::infected((0..65).map(|i| Threat::new(format!("T{i}"), "")).collect());
        assert_eq!(encode(&many), None);
        let long = Verdict::infected(vec![Threat::new("X", "p".repeat(5000))]);
        assert_eq!(encode(&long), None);
    }

    #[test]
    fn keys_are_namespaced_fixed_length_and_field_exact() {
        let a = ObjectId::of(&[Some(b"http://h/f"), None, Some(b"100")]);
        let k = blocked_key("fleet1:", &a);
        assert!(k.starts_with("fleet1:b:") && k.len() == 9 + 64, "{k}");
        // Absent is not empty; bytes do not move between fields.
        assert_ne!(
            a,
            ObjectId::of(&[Some(b"http://h/f"), Some(b""), Some(b"100")])
        );
        assert_ne!(
            ObjectId::of(&[Some(b"ab"), Some(b"c")]),
            ObjectId::of(&[Some(b"a"), Some(b"bc")])
        );
        let v = verdict_key("bulwark:", &VerdictKey([7; 32]));
        assert!(v.starts_with("bulwark:v:") && v.len() == 10 + 64, "{v}");
        assert_ne!(v, verdict_key("bulwark:", &VerdictKey([8; 32])));
    }
}
