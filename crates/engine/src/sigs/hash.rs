//! Hash signatures: `.hdb`/`.hsb`/`.hdu`/`.hsu`/`.fp`/`.sfp` (`hash:size:name`), `.mdb`/`.msb`
//! (`size:hash:name`, PE section hashes) and `.imp` (`hash:size:name`, PE import-table hash).

use super::{flevel_ok, LineError};

/// A hash algorithm, told apart by the hex length.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Algo {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-1 (40 hex digits).
    Sha1,
    /// SHA-256 (64 hex digits).
    Sha256,
}

/// The field order of a hash file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `hash:size:name` (.hdb .hsb .fp .sfp .imp)
    HashFirst,
    /// `size:hash:name` (.mdb .msb)
    SizeFirst,
}

/// One hash signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSig {
    /// The algorithm.
    pub algo: Algo,
    /// The digest (16, 20 or 32 bytes).
    pub digest: Vec<u8>,
    /// The object size, `None` for `*`.
    pub size: Option<u64>,
    /// The threat name.
    pub name: String,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses one line.
pub fn parse(line: &str, layout: Layout) -> Result<HashSig, LineError> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 3 {
        return Err(LineError::Malformed("hash line with fewer than 3 fields"));
    }
    let (h, sz) = match layout {
        Layout::HashFirst => (f[0], f[1]),
        Layout::SizeFirst => (f[1], f[0]),
    };
    let algo = match h.len() {
        32 => Algo::Md5,
        40 => Algo::Sha1,
        64 => Algo::Sha256,
        _ => return Err(LineError::Malformed("hash of unknown length")),
    };
    let digest = unhex(h).ok_or(LineError::Malformed("bad hex in hash"))?;
    flevel_ok(f.get(3).copied(), f.get(4).copied())?;
    let size = if sz == "*" {
        let min: u32 = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
        if min < 73 {
            return Err(LineError::Malformed(
                "size * without minimum functionality level 73",
            ));
        }
        None
    } else {
        Some(
            sz.parse::<u64>()
                .map_err(|_| LineError::Malformed("bad size"))?,
        )
    };
    if f[2].is_empty() {
        return Err(LineError::Malformed("empty name"));
    }
    Ok(HashSig {
        algo,
        digest,
        size,
        name: f[2].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layouts_and_wildcards() {
        let s = parse(
            "44d88612fea8a8f36de82e1278abb02f:68:Win.Test.EICAR_HDB-1",
            Layout::HashFirst,
        )
        .unwrap();
        assert_eq!((s.algo, s.size, s.digest.len()), (Algo::Md5, Some(68), 16));
        let s = parse(
            "68:44d88612fea8a8f36de82e1278abb02f:Sect",
            Layout::SizeFirst,
        )
        .unwrap();
        assert_eq!(s.size, Some(68));
        let h = "a".repeat(64);
        let s = parse(&format!("{h}:*:Any:73"), Layout::HashFirst).unwrap();
        assert_eq!((s.algo, s.size), (Algo::Sha256, None));
        assert!(parse(&format!("{h}:*:Any"), Layout::HashFirst).is_err());
        assert_eq!(
            parse(&format!("{}:5:X", "b".repeat(40)), Layout::HashFirst)
                .unwrap()
                .algo,
            Algo::Sha1
        );
        assert_eq!(
            parse(&format!("{h}:5:X:999"), Layout::HashFirst),
            Err(LineError::Flevel)
        );
        assert!(parse("abc:5:X", Layout::HashFirst).is_err());
        assert!(parse(&format!("{h}:x:X"), Layout::HashFirst).is_err());
    }
}
