//! ClamAV's signed containers (`.cvd`, and the unsigned `.cld`): the 512-byte header and the
//! legacy digital signature.
//!
//! The header is ASCII, padded to 512 bytes: `ClamAV-VDB:build time:version:signatures:
//! functionality level:MD5:dsig:builder:build time (seconds)`. The MD5 is over every byte after
//! the header. The dsig is that MD5 signed with textbook RSA (no padding) under ClamAV's
//! published 1024-bit key, written little-endian in 6-bit digits with the alphabet
//! `a-z A-Z 0-9 + /`. (Weak by today's standards, but it is what ClamAV's mirrors serve; the
//! newer detached `.cvd.sign` PKCS#7 signatures are not checked here.)

use md5::{Digest, Md5};
use num_bigint::BigUint;

/// Size of the header.
pub const HEADER_LEN: usize = 512;

/// ClamAV's public modulus (`CLI_NSTR` in libclamav/dsig.c).
const CLAMAV_N: &str = "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037";
/// ClamAV's public exponent (`CLI_ESTR`).
const CLAMAV_E: &str = "100001027";

const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// A parsed CVD/CLD header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvdHeader {
    /// Build time as written (`09 Jan 2024 07-48 -0500`).
    pub build_time: String,
    /// Database version (daily.cvd's grows every day).
    pub version: u32,
    /// Number of signatures.
    pub signatures: u32,
    /// Functionality level required.
    pub flevel: u32,
    /// MD5 of the body, lower-case hex (as written).
    pub md5: String,
    /// Digital signature (empty or `X` in a `.cld`).
    pub dsig: String,
    /// Builder's name.
    pub builder: String,
    /// Build time in seconds since the epoch, when given.
    pub build_secs: Option<u64>,
}

/// Why a `.cvd` (or its header) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvdError {
    /// Fewer bytes than the header.
    #[error("shorter than the 512-byte header")]
    Short,
    /// The header is not text.
    #[error("header is not ASCII")]
    NotAscii,
    /// The header does not start with `ClamAV-VDB:` and eight fields.
    #[error("not a ClamAV-VDB header")]
    NotVdb,
    /// A numeric field of the header is not a number.
    #[error("bad {0} in header")]
    BadField(&'static str),
    /// The body's MD5 is not the header's.
    #[error("the MD5 in the header does not match the content")]
    Md5Mismatch,
    /// The digital signature does not sign the body's MD5 under the key.
    #[error("the digital signature does not verify")]
    BadSignature,
    /// The version downloaded is not the one the mirror announced.
    #[error("version {announced} changed to {got} during the update")]
    VersionChanged {
        /// The version the header fetched first said.
        announced: u32,
        /// The version of the file downloaded.
        got: u32,
    },
}

/// Parses the header at the start of `data` (at least 512 bytes are needed).
pub fn parse_header(data: &[u8]) -> Result<CvdHeader, CvdError> {
    let head = data.get(..HEADER_LEN).ok_or(CvdError::Short)?;
    let text = std::str::from_utf8(head).map_err(|_| CvdError::NotAscii)?;
    let text = text.trim_end_matches([' ', '\0', '\n', '\r']);
    let f: Vec<&str> = text.split(':').collect();
    if f.first() != Some(&"ClamAV-VDB") || f.len() < 8 {
        return Err(CvdError::NotVdb);
    }
    let num = |i: usize, what: &'static str| -> Result<u32, CvdError> {
        f[i].trim()
            .parse::<u32>()
            .map_err(|_| CvdError::BadField(what))
    };
    Ok(CvdHeader {
        build_time: f[1].to_string(),
        version: num(2, "version")?,
        signatures: num(3, "signature count")?,
        flevel: num(4, "functionality level")?,
        md5: f[5].to_string(),
        dsig: f[6].to_string(),
        builder: f[7].to_string(),
        build_secs: f.get(8).and_then(|s| s.trim().parse().ok()),
    })
}

/// An RSA public key for the legacy dsig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvdKey {
    /// Modulus.
    pub n: BigUint,
    /// Public exponent.
    pub e: BigUint,
}

impl CvdKey {
    /// ClamAV's published key, which signs the CVDs on ClamAV's mirrors.
    pub fn clamav() -> Self {
        Self::from_decimal(CLAMAV_N, CLAMAV_E).unwrap_or_else(|| CvdKey {
            n: BigUint::from(1u8),
            e: BigUint::from(1u8),
        })
    }

    /// A key from decimal modulus and exponent.
    pub fn from_decimal(n: &str, e: &str) -> Option<Self> {
        Some(CvdKey {
            n: BigUint::parse_bytes(n.as_bytes(), 10)?,
            e: BigUint::parse_bytes(e.as_bytes(), 10)?,
        })
    }
}

impl Default for CvdKey {
    fn default() -> Self {
        Self::clamav()
    }
}

/// Decodes a dsig under `key` into the 16 bytes it signs (`None`: malformed or too large).
fn decode_dsig(dsig: &str, key: &CvdKey) -> Option<[u8; 16]> {
    if dsig.is_empty() || dsig.len() > 1024 {
        return None;
    }
    let mut c = BigUint::from(0u8);
    for (i, ch) in dsig.bytes().enumerate() {
        let d = ALPHABET.iter().position(|&a| a == ch)?;
        c += BigUint::from(d as u32) << (6 * i);
    }
    let p = c.modpow(&key.e, &key.n);
    let bytes = p.to_bytes_be();
    if bytes.len() > 16 {
        return None;
    }
    let mut out = [0u8; 16];
    out[16 - bytes.len()..].copy_from_slice(&bytes);
    Some(out)
}

/// Verifies a whole `.cvd`: the header's MD5 matches the body and the dsig matches the MD5
/// under `key`. Returns the header.
pub fn verify_cvd(data: &[u8], key: &CvdKey) -> Result<CvdHeader, CvdError> {
    let h = parse_header(data)?;
    let body = data.get(HEADER_LEN..).unwrap_or_default();
    let md5: [u8; 16] = Md5::digest(body).into();
    let md5_hex = crate::hex::hex(&md5);
    if !h.md5.eq_ignore_ascii_case(&md5_hex) {
        return Err(CvdError::Md5Mismatch);
    }
    match decode_dsig(&h.dsig, key) {
        Some(signed) if signed == md5 => Ok(h),
        _ => Err(CvdError::BadSignature),
    }
}

/// An RSA private key for signing CVDs of a private ClamAV-layout mirror (and tests).
#[derive(Debug, Clone)]
pub struct CvdSigningKey {
    /// The public half.
    pub public: CvdKey,
    /// Private exponent.
    pub d: BigUint,
}

/// Encodes the dsig of `md5` under `key` (the inverse of the check in [`verify_cvd`]).
pub fn sign_md5(md5: &[u8; 16], key: &CvdSigningKey) -> String {
    let m = BigUint::from_bytes_be(md5);
    let mut c = m.modpow(&key.d, &key.public.n);
    let mask = BigUint::from(63u8);
    let mut out = String::new();
    let zero = BigUint::from(0u8);
    while c > zero {
        let digit = (&c & &mask).to_u32_digits().first().copied().unwrap_or(0) as usize;
        out.push(ALPHABET[digit] as char);
        c >>= 6;
    }
    out
}

/// Builds a `.cvd`: header for `version`/`signatures`, then `body` (a gzip'd tar), signed.
pub fn build_cvd(
    body: &[u8],
    version: u32,
    signatures: u32,
    build_secs: u64,
    key: &CvdSigningKey,
) -> Vec<u8> {
    let md5: [u8; 16] = Md5::digest(body).into();
    let dsig = sign_md5(&md5, key);
    let mut header = format!(
        "ClamAV-VDB:01 Jan 2025 00-00 +0000:{version}:{signatures}:90:{}:{dsig}:bulwark:{build_secs}",
        crate::hex::hex(&md5)
    )
    .into_bytes();
    header.resize(HEADER_LEN.max(header.len()), b' ');
    header.extend_from_slice(body);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_key() -> CvdSigningKey {
        // A 1024-bit key made for these tests only (openssl genpkey), e = 65537.
        CvdSigningKey {
            public: CvdKey::from_decimal(crate::cvd_test_key::N, "65537").unwrap(),
            d: BigUint::parse_bytes(crate::cvd_test_key::D.as_bytes(), 10).unwrap(),
        }
    }

    #[test]
    fn clamav_key_parses() {
        let k = CvdKey::clamav();
        assert_eq!(k.n.bits(), 1024);
        assert_eq!(k.e, BigUint::from(100_001_027u32));
    }

    #[test]
    fn own_signed_cvd_verifies_and_tampering_is_caught() {
        let key = test_key();
        let cvd = build_cvd(b"not really a tar.gz", 42, 3, 1_700_000_000, &key);
        let h = verify_cvd(&cvd, &key.public).unwrap();
        assert_eq!((h.version, h.signatures, h.flevel), (42, 3, 90));
        assert_eq!(h.build_secs, Some(1_700_000_000));
        // ClamAV's key does not accept it.
        assert!(verify_cvd(&cvd, &CvdKey::clamav()).is_err());
        // A changed body.
        let mut bad = cvd.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(verify_cvd(&bad, &key.public), Err(CvdError::Md5Mismatch));
        // A forged header MD5 matching a changed body, with the old dsig.
        let body = b"evil body";
        let md5: [u8; 16] = Md5::digest(body).into();
        let text = String::from_utf8_lossy(&cvd[..HEADER_LEN]).to_string();
        let old = parse_header(&cvd).unwrap().md5;
        let mut forged = text.replace(&old, &crate::hex::hex(&md5)).into_bytes();
        forged.extend_from_slice(body);
        assert_eq!(
            verify_cvd(&forged, &key.public),
            Err(CvdError::BadSignature)
        );
        assert_eq!(parse_header(b"ClamAV-VDB:short"), Err(CvdError::Short));
        let mut h = vec![b' '; HEADER_LEN];
        h[..40].copy_from_slice(b"ClamAV-VDB:t:x:3:90:md5:dsig:builder:1  ");
        assert_eq!(parse_header(&h), Err(CvdError::BadField("version")));
        h[..10].copy_from_slice(b"NotClamAV:");
        assert_eq!(parse_header(&h), Err(CvdError::NotVdb));
    }
}
