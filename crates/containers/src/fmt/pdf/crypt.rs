//! Encrypted PDF documents (the standard security handler, ISO 32000 §7.6.4 and its AES-256
//! extension), opened with the empty user password as ClamAV 1.4 opens them: a document anyone
//! can open without typing a password is read, and its streams scanned decrypted. Revisions 2–4
//! (RC4 with 40- to 128-bit keys, AES-128 through the `/AESV2` crypt filter) and 5–6 (AES-256,
//! `/AESV3`). A document whose user password is not empty cannot be read: its streams are
//! `protected`, never guessed at.
//!
//! Checked against clamscan 1.4.6 on documents encrypted by qpdf (`tests/pdf.rs`): it finds the
//! same EICAR stream in each of the RC4-40, RC4-128, AES-128 and AES-256 forms, and nothing in a
//! document with a user password.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use md5::{Digest, Md5};
use sha2::{Sha256, Sha384, Sha512};

use super::dict::{self, Value};

/// The padding string of Algorithm 2: the empty password padded.
const PAD: [u8; 32] = [
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
];

/// How streams are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// RC4 with a per-object key (`/V 1`, `/V 2`, or the `/V2` crypt filter).
    Rc4,
    /// AES-128-CBC with a per-object key (`/AESV2`).
    Aes128,
    /// AES-256-CBC with the file key (`/AESV3`).
    Aes256,
    /// Not encrypted (`/Identity`).
    Identity,
}

/// What a document's encryption means for its streams.
#[derive(Debug)]
pub(crate) enum Crypt {
    /// Not encrypted.
    Plain,
    /// Encrypted, and the empty user password opens it.
    Open(Decryptor),
    /// Encrypted and not readable: a user password, or a security handler or method this
    /// reader does not know (the reason).
    Locked(&'static str),
}

/// The key and method of a document the empty user password opened.
#[derive(Debug)]
pub(crate) struct Decryptor {
    key: Vec<u8>,
    streams: Method,
    /// The object holding the `/Encrypt` dictionary (its own strings are not encrypted).
    dict_object: Option<(u64, u64)>,
    encrypt_metadata: bool,
}

/// The encryption of the document `doc`.
pub(crate) fn crypt(doc: &[u8]) -> Crypt {
    let Some(enc) = encrypt_dictionary(doc) else {
        return Crypt::Plain;
    };
    let (dict_object, d) = enc;
    let int = |k: &[u8]| d.get(k).and_then(|v| v.int());
    if d.get(b"Filter").and_then(|v| v.name()) != Some(&b"Standard"[..]) {
        return Crypt::Locked("a security handler other than the standard one");
    }
    let (Some(v), Some(r)) = (int(b"V"), int(b"R")) else {
        return Crypt::Locked("an encryption dictionary without /V or /R");
    };
    let o = d.get(b"O").and_then(|v| v.string()).unwrap_or_default();
    let u = d.get(b"U").and_then(|v| v.string()).unwrap_or_default();
    let encrypt_metadata = d
        .get(b"EncryptMetadata")
        .and_then(|v| v.boolean())
        .unwrap_or(true);
    let streams = match v {
        1 | 2 => Method::Rc4,
        4 | 5 => match stream_filter(&d) {
            Some(m) => m,
            None => return Crypt::Locked("an unknown crypt filter"),
        },
        _ => return Crypt::Locked("an unknown encryption version"),
    };
    let key = match r {
        2..=4 => {
            let bits = if v == 1 || r == 2 {
                40
            } else {
                int(b"Length").unwrap_or(40).clamp(40, 128)
            };
            let p = int(b"P").unwrap_or(0) as i32;
            let id = file_id(doc).unwrap_or_default();
            user_key_r2_4(r, bits as usize / 8, &o, &u, p, &id, encrypt_metadata)
        }
        5 | 6 => {
            let ue = d.get(b"UE").and_then(|v| v.string()).unwrap_or_default();
            user_key_r5_6(r, &u, &ue)
        }
        _ => return Crypt::Locked("an unknown security handler revision"),
    };
    match key {
        Some(key) => Crypt::Open(Decryptor {
            key,
            streams,
            dict_object,
            encrypt_metadata,
        }),
        None => Crypt::Locked("a user password"),
    }
}

impl Decryptor {
    /// Whether the stream of `object` with dictionary `d` is encrypted: not the encryption
    /// dictionary's own object, cross-reference streams, metadata when `/EncryptMetadata false`,
    /// or a stream with its own `/Identity` crypt filter.
    pub(crate) fn applies(&self, object: Option<(u64, u64)>, d: &[u8]) -> bool {
        if self.streams == Method::Identity || object.is_none() || object == self.dict_object {
            return false;
        }
        let d = dict::parse(d);
        let ty = d.get(b"Type").and_then(|v| v.name());
        if ty == Some(&b"XRef"[..]) {
            return false;
        }
        if ty == Some(&b"Metadata"[..]) && !self.encrypt_metadata {
            return false;
        }
        !matches!(d.get(b"Filter"), Some(f) if f.names().first() == Some(&&b"Crypt"[..]))
    }

    /// The stream data of object `(num, gen)` decrypted; `None` when it cannot be (an AES
    /// stream shorter than its IV).
    pub(crate) fn decrypt(&self, (num, gen): (u64, u64), data: &[u8]) -> Option<Vec<u8>> {
        match self.streams {
            Method::Identity => Some(data.to_vec()),
            Method::Rc4 => Some(rc4(&self.object_key(num, gen, false), data)),
            Method::Aes128 => aes_cbc(&self.object_key(num, gen, true), data),
            Method::Aes256 => aes_cbc(&self.key, data),
        }
    }

    /// Algorithm 1: the file key, the object's number and generation (and `sAlT` for AES),
    /// hashed; at most 16 bytes.
    fn object_key(&self, num: u64, gen: u64, aes: bool) -> Vec<u8> {
        let mut h = Md5::new();
        h.update(&self.key);
        h.update(&num.to_le_bytes()[..3]);
        h.update(&gen.to_le_bytes()[..2]);
        if aes {
            h.update(b"sAlT");
        }
        let d = h.finalize();
        d[..(self.key.len() + 5).min(16)].to_vec()
    }
}

/// The crypt filter streams use (`/StmF`, default `/Identity`) and its method.
fn stream_filter(d: &dict::Dict<'_>) -> Option<Method> {
    let name = d.get(b"StmF").and_then(|v| v.name()).unwrap_or(b"Identity");
    if name == b"Identity" {
        return Some(Method::Identity);
    }
    let cf = d.get(b"CF")?.dict()?;
    let f = cf.get(name)?.dict()?;
    match f.get(b"CFM").and_then(|v| v.name()).unwrap_or(b"None") {
        b"V2" => Some(Method::Rc4),
        b"AESV2" => Some(Method::Aes128),
        b"AESV3" => Some(Method::Aes256),
        b"None" => Some(Method::Identity),
        _ => None,
    }
}

/// Algorithms 2 and 6 (revisions 2–4): the file key computed for the empty password, when the
/// `/U` value confirms that the empty password is the user password.
fn user_key_r2_4(
    r: i64,
    n: usize,
    o: &[u8],
    u: &[u8],
    p: i32,
    id: &[u8],
    encrypt_metadata: bool,
) -> Option<Vec<u8>> {
    let mut h = Md5::new();
    h.update(PAD);
    h.update(o.get(..32)?);
    h.update(p.to_le_bytes());
    h.update(id);
    if r >= 4 && !encrypt_metadata {
        h.update([0xff; 4]);
    }
    let mut key = h.finalize().to_vec();
    if r >= 3 {
        for _ in 0..50 {
            key = Md5::digest(&key[..n]).to_vec();
        }
    }
    key.truncate(n);
    let ok = if r == 2 {
        rc4(&key, &PAD) == u.get(..32)?
    } else {
        let mut h = Md5::new();
        h.update(PAD);
        h.update(id);
        let mut x = rc4(&key, &h.finalize());
        for i in 1..=19u8 {
            let k: Vec<u8> = key.iter().map(|b| b ^ i).collect();
            x = rc4(&k, &x);
        }
        x[..16] == *u.get(..16)?
    };
    ok.then_some(key)
}

/// Revisions 5 and 6: the file key decrypted from `/UE` with the hash of the empty password
/// and the key salt, when the validation salt confirms the empty password.
fn user_key_r5_6(r: i64, u: &[u8], ue: &[u8]) -> Option<Vec<u8>> {
    let (hash, validation, key_salt) = (u.get(..32)?, u.get(32..40)?, u.get(40..48)?);
    let check = |salt: &[u8]| -> [u8; 32] {
        if r == 5 {
            Sha256::digest(salt).into()
        } else {
            hash_r6(salt)
        }
    };
    if check(validation) != hash {
        return None;
    }
    let k = check(key_salt);
    let mut out = ue.get(..32)?.to_vec();
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(&k, &[0u8; 16]).ok()?;
    dec.decrypt_padded::<NoPadding>(&mut out).ok()?;
    Some(out)
}

/// Algorithm 2.B (revision 6) for the empty password: rounds of SHA-256/384/512 over
/// AES-128-CBC output, at least 64, until the last byte says stop.
fn hash_r6(salt: &[u8]) -> [u8; 32] {
    let mut k: Vec<u8> = Sha256::digest(salt).to_vec();
    let mut round = 0u32;
    loop {
        // K1 = (password ‖ K) × 64; the password is empty.
        let mut k1: Vec<u8> = Vec::with_capacity(k.len() * 64);
        for _ in 0..64 {
            k1.extend_from_slice(&k);
        }
        let Ok(enc) = cbc::Encryptor::<aes::Aes128>::new_from_slices(&k[..16], &k[16..32]) else {
            return [0; 32];
        };
        let len = k1.len();
        let e = match enc.encrypt_padded::<NoPadding>(&mut k1, len) {
            Ok(e) => e.to_vec(),
            Err(_) => return [0; 32],
        };
        let sum: u32 = e[..16].iter().map(|&b| u32::from(b)).sum();
        k = match sum % 3 {
            0 => Sha256::digest(&e).to_vec(),
            1 => Sha384::digest(&e).to_vec(),
            _ => Sha512::digest(&e).to_vec(),
        };
        round += 1;
        let last = e.last().copied().unwrap_or(0);
        if round >= 64 && u32::from(last) <= round - 32 {
            break;
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&k[..32]);
    out
}

fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    use rc4::{KeyInit, StreamCipher};
    let mut out = data.to_vec();
    if let Ok(mut c) = rc4::Rc4::new_from_slice(key) {
        c.apply_keystream(&mut out);
    }
    out
}

/// AES-CBC with the IV in the first 16 bytes and PKCS#7 padding (kept as is when the padding
/// is damaged); `None` when there is no whole block after the IV.
fn aes_cbc(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let (iv, body) = (data.get(..16)?, data.get(16..)?);
    let whole = body.len() / 16 * 16;
    if whole == 0 {
        return None;
    }
    let mut out = body[..whole].to_vec();
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded::<NoPadding>(&mut out)
            .ok()?,
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded::<NoPadding>(&mut out)
            .ok()?,
        _ => return None,
    };
    let pad = usize::from(out.last().copied().unwrap_or(0));
    if (1..=16).contains(&pad)
        && out[out.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad)
    {
        out.truncate(out.len() - pad);
    }
    Some(out)
}

/// The `/Encrypt` entry of the trailer (or of a cross-reference stream's dictionary): the
/// object it refers to, found by its `N G obj` header, or a direct dictionary.
fn encrypt_dictionary(doc: &[u8]) -> Option<(Option<(u64, u64)>, dict::Dict<'_>)> {
    for at in memchr::memmem::find_iter(doc, b"/Encrypt") {
        let rest = &doc[at + 8..];
        if rest.first().is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue; // `/EncryptMetadata`
        }
        match dict::value(rest) {
            Some((Value::Ref(n, g), _)) => {
                if let Some(d) = object_dictionary(doc, n, g) {
                    return Some((Some((n, g)), dict::parse(d)));
                }
            }
            Some((Value::Dict(d), _)) => return Some((None, dict::parse(d))),
            _ => {}
        }
    }
    None
}

/// The dictionary of object `n g` (after its first `n g obj` header).
fn object_dictionary(doc: &[u8], n: u64, g: u64) -> Option<&[u8]> {
    let header = format!("{n} {g} obj");
    for at in memchr::memmem::find_iter(doc, header.as_bytes()) {
        if at > 0 && doc[at - 1].is_ascii_digit() {
            continue;
        }
        let rest = &doc[at + header.len()..];
        let start = rest.iter().position(|c| !c.is_ascii_whitespace())?;
        if let Some((Value::Dict(d), _)) = dict::value(&rest[start..]) {
            return Some(d);
        }
    }
    None
}

/// The first element of the trailer's `/ID` array.
fn file_id(doc: &[u8]) -> Option<Vec<u8>> {
    for at in memchr::memmem::find_iter(doc, b"/ID") {
        let rest = &doc[at + 3..];
        if rest.first().is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        if let Some((Value::Array(items), _)) = dict::value(rest) {
            if let Some(s) = items.first().and_then(Value::string) {
                return Some(s);
            }
        }
    }
    None
}
