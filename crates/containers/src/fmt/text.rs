//! Objects encoded inside text (ours, fuzzed): base64 `data:` URIs (HTML), RTF `\objdata` hex
//! objects, BinHex 4.0; and zlib streams inside PowerPoint OLE object records and Symbian SIS
//! files. Each decoded object is a member.

use flate2::read::ZlibDecoder;

use crate::blob::Blob;
use crate::scan::{join, note, Abort, Scan, Walked};

/// Largest object searched.
const MAX_SEARCH: u64 = 32 << 20;
/// Most objects decoded from one object.
const MAX_OBJECTS: usize = 16;

fn b64val(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes base64 from the start of `s` up to the first character outside the alphabet
/// (whitespace skipped).
pub fn base64_prefix(s: &[u8], cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(v) = b64val(c) else { break };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            if out.len() >= cap {
                break;
            }
        }
    }
    out
}

/// Decodes hex digit pairs (whitespace skipped) up to the first other character.
pub fn hex_prefix(s: &[u8], cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut hi: Option<u8> = None;
    for &c in s {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                out.push(h << 4 | v);
                if out.len() >= cap {
                    break;
                }
            }
        }
    }
    out
}

/// BinHex 4.0: the data fork of the first file in `s` (the text after the header line).
pub fn binhex(s: &[u8], cap: usize) -> Option<Vec<u8>> {
    const ALPHA: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let start = memchr::memchr(b':', s)? + 1;
    let mut six = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &s[start..] {
        if c == b':' {
            break;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = ALPHA.iter().position(|&a| a == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            six.push((acc >> bits) as u8);
        }
        if six.len() > cap.saturating_mul(2) {
            break;
        }
    }
    // Run-length: 0x90 n repeats the previous byte n-1 more times (0x90 0 is a literal 0x90).
    let mut d = Vec::with_capacity(six.len());
    let mut i = 0;
    while i < six.len() && d.len() < cap + 4096 {
        let c = six[i];
        if c == 0x90 && i + 1 < six.len() {
            let n = six[i + 1];
            if n == 0 {
                d.push(0x90);
            } else if let Some(&prev) = d.last() {
                for _ in 1..n {
                    d.push(prev);
                }
            }
            i += 2;
        } else {
            d.push(c);
            i += 1;
        }
    }
    let nlen = *d.first()? as usize;
    let h = 1 + nlen + 1;
    let dlen = d
        .get(h + 10..h + 14)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))? as usize;
    let body = h + 20;
    let end = body.checked_add(dlen)?.min(d.len());
    d.get(body..end).map(|b| b[..b.len().min(cap)].to_vec())
}

fn inflate(d: &[u8], cap: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut z = ZlibDecoder::new(d).take(cap);
    match z.read_to_end(&mut out) {
        Ok(_) if !out.is_empty() => Some(out),
        Err(_) if !out.is_empty() => Some(out),
        _ => None,
    }
}

/// Objects found in `d`: (name, decoded bytes).
pub fn objects(d: &[u8], cap: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    // data: URIs.
    for pos in memchr::memmem::find_iter(d, b";base64,").take(MAX_OBJECTS) {
        let head = &d[pos.saturating_sub(200)..pos];
        if memchr::memmem::rfind(head, b"data:").is_some() {
            let b = base64_prefix(&d[pos + 8..], cap);
            if b.len() >= 16 {
                out.push((format!("@{pos}.data-uri"), b));
            }
        }
    }
    // RTF embedded objects.
    if d.starts_with(b"{\\rtf") {
        for pos in memchr::memmem::find_iter(d, b"\\objdata").take(MAX_OBJECTS) {
            let b = hex_prefix(&d[pos + 8..], cap);
            if b.len() >= 16 {
                out.push((format!("@{pos}.objdata"), b));
            }
        }
    }
    // BinHex.
    if memchr::memmem::find(
        &d[..d.len().min(1024)],
        b"(This file must be converted with BinHex",
    )
    .is_some()
    {
        if let Some(b) = binhex(d, cap) {
            out.push(("binhex".to_string(), b));
        }
    }
    // PowerPoint ExOleObjStg records (compressed): header, 4-byte size, zlib data.
    for pos in memchr::memmem::find_iter(d, b"\x10\x00\x11\x10").take(MAX_OBJECTS) {
        if let Some(z) = d.get(pos + 12..) {
            if let Some(b) = inflate(z, cap as u64) {
                out.push((format!("@{pos}.oleobj"), b));
            }
        }
    }
    // Symbian SIS (UID3 0x10000419): zlib-compressed files.
    if d.get(8..12) == Some(b"\x19\x04\x00\x10") {
        let mut n = 0;
        for pos in memchr::memchr_iter(b'x', d) {
            if n >= MAX_OBJECTS {
                break;
            }
            let Some(&f) = d.get(pos + 1) else { break };
            if (u16::from(b'x') << 8 | u16::from(f)) % 31 == 0 {
                if let Some(b) = inflate(&d[pos..], cap as u64) {
                    out.push((format!("@{pos}.sis"), b));
                    n += 1;
                }
            }
        }
    }
    out.truncate(MAX_OBJECTS);
    out
}

/// Scans the objects encoded in `blob` as members at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
    w: &mut Walked,
) -> Result<(), Abort> {
    let data = match blob.bytes(MAX_SEARCH) {
        Ok(Some(d)) => d,
        _ => return Ok(()),
    };
    let cap = ctx.options().limits.max_member_bytes.min(MAX_SEARCH * 4) as usize;
    for (i, (name, bytes)) in objects(&data, cap).into_iter().enumerate() {
        let r = ctx.member_bytes(&bytes, &join(path, &name), depth)?;
        note(w, 1000 + i, r);
    }
    Ok(())
}
