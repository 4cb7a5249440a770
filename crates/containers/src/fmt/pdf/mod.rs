//! PDF: every stream of a document, decoded through its filters, is a member (as ClamAV's PDF
//! handler scans them): `FlateDecode`, `ASCIIHexDecode`, `ASCII85Decode`, `RunLengthDecode`
//! and `LZWDecode`, chained as `/Filter` lists them. Image codecs (`DCTDecode`, `JPXDecode`,
//! `CCITTFaxDecode`, `JBIG2Decode`) and unknown filters end the chain: the bytes decoded so far
//! are the member. Object streams (`/Type /ObjStm`) are streams like the others, so the
//! objects and JavaScript strings packed in them are scanned decoded.
//!
//! The document is read as ClamAV reads it, by its keywords rather than through the
//! cross-reference table (which malware breaks on purpose): each `stream` keyword after an
//! object's dictionary starts a stream that ends at `/Length` bytes when `endstream` follows
//! there, else at the next `endstream`. Every decoded stream goes through the member limits
//! (size, ratio, count, time); a damaged stream is decoded as far as it goes and the document is
//! marked corrupted.
//!
//! Encrypted documents (`/Encrypt`) are opened with the empty user password as ClamAV opens
//! them (module `crypt`): their streams are decrypted, then decoded; a document that needs a
//! password is `protected`, its streams left alone (encrypted bytes are not damaged data).
//!
//! Not done: `DecodeParms` predictors (ClamAV does not undo them either).

mod crypt;
mod dict;

use std::io::{Cursor, Read};

use crate::blob::Blob;
use crate::scan::{Abort, Finding, Limit, Packed, Scan, Walked};

/// Largest document read into memory to find its streams.
pub const MAX_DOCUMENT: u64 = 256 << 20;

/// Whether `head` is a PDF document: `%PDF-` in its first 1,024 bytes (ClamAV's magic).
pub fn detect(head: &[u8]) -> bool {
    memchr::memmem::find(&head[..head.len().min(1024)], b"%PDF-").is_some()
}

/// A stream's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    Flate,
    AsciiHex,
    Ascii85,
    RunLength,
    Lzw,
    /// An image codec or a filter not decoded here: the chain stops before it.
    Stop,
}

impl Filter {
    fn from_name(n: &[u8]) -> Filter {
        match n {
            b"FlateDecode" | b"Fl" => Filter::Flate,
            b"ASCIIHexDecode" | b"AHx" => Filter::AsciiHex,
            b"ASCII85Decode" | b"A85" => Filter::Ascii85,
            b"RunLengthDecode" | b"RL" => Filter::RunLength,
            b"LZWDecode" | b"LZW" => Filter::Lzw,
            _ => Filter::Stop,
        }
    }
}

/// One stream found in the document: its object's dictionary and its raw bytes.
struct RawStream<'a> {
    /// `N G` of the object holding it, when its header was found.
    object: Option<(u64, u64)>,
    dict: &'a [u8],
    data: &'a [u8],
}

/// Scans the decoded streams of the PDF in `blob` at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let w = Walked::default();
    let cap = MAX_DOCUMENT.min(ctx.options().limits.max_member_bytes);
    let Some(doc) = ctx.bytes_within(blob, cap, Limit::PdfDocumentSize) else {
        return Ok(w);
    };
    let crypt = crypt::crypt(&doc);
    if let crypt::Crypt::Locked(why) = &crypt {
        ctx.note(Finding::Note(format!(
            "{}: encrypted PDF not opened: it needs {why}",
            crate::scan::shown(path)
        )));
        ctx.note(Finding::Protected);
    }
    let mut at = 0;
    let mut n = 0usize;
    while let Some(s) = next_stream(&doc, &mut at) {
        n += 1;
        let name = match s.object {
            Some((num, gen)) => format!("obj {num} {gen}"),
            None => format!("stream {n}"),
        };
        let member = crate::scan::join(path, &name);
        let filters = filters(s.dict);
        let decrypted;
        let data = match (&crypt, s.object) {
            (crypt::Crypt::Open(d), Some(obj)) if d.applies(s.object, s.dict) => {
                match d.decrypt(obj, s.data) {
                    Some(x) => {
                        decrypted = x;
                        &decrypted[..]
                    }
                    None => {
                        ctx.note(Finding::Corrupted);
                        continue;
                    }
                }
            }
            // Encrypted with a password: nothing to decode.
            (crypt::Crypt::Locked(_), _) => continue,
            _ => s.data,
        };
        decode_member(ctx, data, s.data.len(), &filters, &member, depth)?;
    }
    Ok(w)
}

/// Decodes one stream and scans it as a member.
fn decode_member<'o>(
    ctx: &mut impl Scan<'o>,
    stream: &[u8],
    stored: usize,
    filters: &[Filter],
    path: &str,
    depth: u32,
) -> Result<(), Abort> {
    let cap = ctx.options().limits.max_member_bytes;
    let packed = Packed::Fixed(stored as u64);
    let chain: Vec<Filter> = filters
        .iter()
        .copied()
        .take_while(|f| *f != Filter::Stop)
        .collect();
    // The common case, one Flate filter, streams through the member limits as it inflates
    // (zlib-wrapped as the format says, or raw deflate as some writers produce).
    if chain == [Filter::Flate] {
        if zlib_header(stream) {
            let mut r = flate2::read::ZlibDecoder::new(stream);
            ctx.member(&mut r, path, depth, packed)?;
        } else {
            let mut r = flate2::read::DeflateDecoder::new(stream);
            ctx.member(&mut r, path, depth, packed)?;
        }
        return Ok(());
    }
    let mut data = stream.to_vec();
    for f in chain {
        let (out, ok) = match f {
            Filter::Flate => inflate(&data, cap),
            Filter::AsciiHex => ascii_hex(&data),
            Filter::Ascii85 => ascii85(&data),
            Filter::RunLength => run_length(&data, cap),
            Filter::Lzw => lzw(&data, cap),
            Filter::Stop => break,
        };
        if !ok {
            ctx.note(Finding::Corrupted);
        }
        data = out;
        if data.len() as u64 > cap {
            return Err(Abort::Member(Limit::MemberSize));
        }
    }
    ctx.member(&mut Cursor::new(data), path, depth, packed)?;
    Ok(())
}

/// The next stream at or after `*at`; moves `*at` past it.
fn next_stream<'a>(doc: &'a [u8], at: &mut usize) -> Option<RawStream<'a>> {
    loop {
        let k = *at + memchr::memmem::find(doc.get(*at..)?, b"stream")?;
        *at = k + 6;
        // `endstream` contains `stream`; a keyword must not be preceded by a regular character.
        if k > 0 && is_regular(doc[k - 1]) {
            continue;
        }
        // The data starts after CRLF or LF (a lone CR is accepted too).
        let mut start = k + 6;
        match doc.get(start..start + 2) {
            Some(b"\r\n") => start += 2,
            _ => match doc.get(start) {
                Some(b'\n' | b'\r') => start += 1,
                _ => continue,
            },
        }
        let (object, dict) = dictionary_before(doc, k);
        let end = stream_end(doc, start, dict)?;
        *at = end;
        return Some(RawStream {
            object,
            dict,
            data: &doc[start..end],
        });
    }
}

/// Where the stream starting at `start` ends: at `/Length` when `endstream` follows there, else
/// before the next `endstream` (its end-of-line excluded).
fn stream_end(doc: &[u8], start: usize, dict: &[u8]) -> Option<usize> {
    if let Some(len) = direct_length(dict) {
        let end = start.checked_add(len)?;
        if let Some(after) = doc.get(end..) {
            let after = &after[after.iter().take(2).take_while(|c| is_space(**c)).count()..];
            if after.starts_with(b"endstream") {
                return Some(end);
            }
        }
    }
    let e = start + memchr::memmem::find(&doc[start..], b"endstream").unwrap_or(doc.len() - start);
    let mut end = e;
    if end > start && doc[end - 1] == b'\n' {
        end -= 1;
    }
    if end > start && doc[end - 1] == b'\r' {
        end -= 1;
    }
    Some(end)
}

/// The dictionary of the object whose `stream` keyword is at `k` (the text between its
/// `N G obj` header and the keyword, at most 64 KiB back), and the header's numbers.
fn dictionary_before(doc: &[u8], k: usize) -> (Option<(u64, u64)>, &[u8]) {
    let from = k.saturating_sub(64 << 10);
    let window = &doc[from..k];
    match memchr::memmem::rfind(window, b"obj") {
        Some(o) => {
            let dict = &window[o + 3..];
            (object_numbers(&window[..o]), dict)
        }
        None => (None, window),
    }
}

/// `N G` just before an `obj` keyword.
fn object_numbers(before: &[u8]) -> Option<(u64, u64)> {
    let t = trim_end(before);
    let (t, gen) = last_number(t)?;
    let (_, num) = last_number(trim_end(t))?;
    Some((num, gen))
}

fn last_number(t: &[u8]) -> Option<(&[u8], u64)> {
    let digits = t.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let (rest, d) = t.split_at(t.len() - digits);
    Some((rest, std::str::from_utf8(d).ok()?.parse().ok()?))
}

fn trim_end(t: &[u8]) -> &[u8] {
    let n = t.iter().rev().take_while(|c| is_space(**c)).count();
    &t[..t.len() - n]
}

/// `/Length N` when it is a direct number (not `N G R`).
fn direct_length(dict: &[u8]) -> Option<usize> {
    let i = find_key(dict, b"/Length")?;
    let rest = &dict[i..];
    let rest = &rest[rest.iter().take_while(|c| is_space(**c)).count()..];
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 12 {
        return None;
    }
    let n: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    // An indirect reference `N G R` is not the length.
    let after = &rest[digits..];
    let after = &after[after.iter().take_while(|c| is_space(**c)).count()..];
    let g = after.iter().take_while(|c| c.is_ascii_digit()).count();
    if g > 0 {
        let r = &after[g..];
        let r = &r[r.iter().take_while(|c| is_space(**c)).count()..];
        if r.first() == Some(&b'R') {
            return None;
        }
    }
    Some(n)
}

/// The index just past key `key` (a name followed by a delimiter) in `dict`.
fn find_key(dict: &[u8], key: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&dict[from..], key) {
        let end = from + i + key.len();
        if dict.get(end).is_none_or(|c| !is_regular(*c)) {
            return Some(end);
        }
        from = end;
    }
    None
}

/// The `/Filter` of a stream dictionary: one name or an array of names.
fn filters(dict: &[u8]) -> Vec<Filter> {
    let Some(i) = find_key(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = &dict[i..];
    let rest = &rest[rest.iter().take_while(|c| is_space(**c)).count()..];
    let list: &[u8] = if rest.first() == Some(&b'[') {
        let end = memchr::memchr(b']', rest).unwrap_or(rest.len());
        &rest[1..end]
    } else {
        let end = rest
            .iter()
            .skip(1)
            .position(|c| !is_regular(*c))
            .map_or(rest.len(), |p| p + 1);
        &rest[..end]
    };
    list.split(|c| *c == b'/')
        .skip(1)
        .map(|n| {
            let n = &n[..n.iter().take_while(|c| is_regular(**c)).count()];
            Filter::from_name(n)
        })
        .take(8)
        .collect()
}

/// PDF white space.
fn is_space(c: u8) -> bool {
    matches!(c, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// Neither white space nor a delimiter.
fn is_regular(c: u8) -> bool {
    !is_space(c) && !b"()<>[]{}/%".contains(&c)
}

/// Whether `d` starts with a zlib header (deflate, check bits valid).
fn zlib_header(d: &[u8]) -> bool {
    d.len() >= 2 && d[0] & 0x0f == 8 && (u16::from(d[0]) << 8 | u16::from(d[1])) % 31 == 0
}

/// zlib (or raw deflate when the zlib header is missing), up to `cap` bytes.
fn inflate(data: &[u8], cap: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let ok = if zlib_header(data) {
        flate2::read::ZlibDecoder::new(data)
            .take(cap.saturating_add(1))
            .read_to_end(&mut out)
            .is_ok()
    } else {
        flate2::read::DeflateDecoder::new(data)
            .take(cap.saturating_add(1))
            .read_to_end(&mut out)
            .is_ok()
    };
    (out, ok)
}

/// `ASCIIHexDecode`: hex digits up to `>`, white space ignored, an odd last digit padded.
fn ascii_hex(data: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut hi: Option<u8> = None;
    for &c in data {
        if c == b'>' {
            break;
        }
        if is_space(c) {
            continue;
        }
        let Some(v) = super::mime::hexval(c) else {
            return (out, false);
        };
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
    (out, true)
}

/// `ASCII85Decode`: groups of five characters `!`–`u` (four bytes), `z` for four zeros, up to
/// `~>`; a short last group gives its bytes.
fn ascii85(data: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(data.len() * 4 / 5);
    let mut group = [0u8; 5];
    let mut n = 0;
    let mut i = 0;
    let mut ok = true;
    while i < data.len() {
        let c = data[i];
        i += 1;
        match c {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = c - b'!';
                n += 1;
                if n == 5 {
                    let v = group.iter().fold(0u64, |a, &d| a * 85 + u64::from(d));
                    if v > u64::from(u32::MAX) {
                        ok = false;
                        break;
                    }
                    out.extend_from_slice(&(v as u32).to_be_bytes());
                    n = 0;
                }
            }
            _ if is_space(c) => {}
            _ => {
                ok = false;
                break;
            }
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        let v = group.iter().fold(0u64, |a, &d| a * 85 + u64::from(d));
        out.extend_from_slice(&(v.min(u64::from(u32::MAX)) as u32).to_be_bytes()[..n - 1]);
    }
    (out, ok)
}

/// `RunLengthDecode`, up to `cap` bytes.
fn run_length(data: &[u8], cap: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() && (out.len() as u64) <= cap {
        let l = data[i];
        i += 1;
        match l {
            128 => return (out, true),
            0..=127 => {
                let n = usize::from(l) + 1;
                let Some(run) = data.get(i..i + n) else {
                    out.extend_from_slice(&data[i..]);
                    return (out, false);
                };
                out.extend_from_slice(run);
                i += n;
            }
            _ => {
                let Some(&b) = data.get(i) else {
                    return (out, false);
                };
                out.extend(std::iter::repeat_n(b, 257 - usize::from(l)));
                i += 1;
            }
        }
    }
    (out, true)
}

/// `LZWDecode` (the PDF/TIFF variant: MSB-first codes of 9 to 12 bits, one code early), up
/// to `cap` bytes.
fn lzw(data: &[u8], cap: u64) -> (Vec<u8>, bool) {
    const CLEAR: usize = 256;
    const EOD: usize = 257;
    // Entry `i`: (prefix entry, last byte, length); 0..=255 single bytes, 256/257 unused.
    let mut table: Vec<(usize, u8, usize)> = Vec::with_capacity(4096);
    let reset = |t: &mut Vec<(usize, u8, usize)>| {
        t.clear();
        t.extend((0..=255u8).map(|b| (usize::MAX, b, 1)));
        t.extend([(usize::MAX, 0, 0), (usize::MAX, 0, 0)]);
    };
    reset(&mut table);
    let mut out: Vec<u8> = Vec::new();
    let (mut acc, mut bits, mut width) = (0u32, 0u32, 9u32);
    let mut prev: Option<usize> = None;
    let mut s = Vec::new();
    for &byte in data {
        acc = acc << 8 | u32::from(byte);
        bits += 8;
        while bits >= width {
            let code = ((acc >> (bits - width)) & ((1 << width) - 1)) as usize;
            bits -= width;
            acc &= (1 << bits) - 1;
            if code == CLEAR {
                reset(&mut table);
                width = 9;
                prev = None;
                continue;
            }
            if code == EOD {
                return (out, true);
            }
            let Some(p) = prev else {
                if code > 255 {
                    return (out, false);
                }
                out.push(code as u8);
                prev = Some(code);
                continue;
            };
            // The string of `code`, or (code not yet defined) the previous one plus its first byte.
            let from = if code < table.len() && table[code].2 > 0 {
                code
            } else if code == table.len() {
                p
            } else {
                return (out, false);
            };
            s.clear();
            let mut e = from;
            while e != usize::MAX {
                s.push(table[e].1);
                e = table[e].0;
            }
            s.reverse();
            let first = s[0];
            if from == p && code == table.len() {
                s.push(first);
            }
            out.extend_from_slice(&s);
            if out.len() as u64 > cap {
                return (out, true);
            }
            if table.len() < 4096 {
                let len = table[p].2 + 1;
                table.push((p, first, len));
            }
            width = match table.len() + 1 {
                n if n >= 2048 => 12,
                n if n >= 1024 => 11,
                n if n >= 512 => 10,
                _ => 9,
            };
            prev = Some(code);
        }
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_lengths() {
        assert_eq!(
            filters(b"<< /Length 5 /Filter /FlateDecode >>"),
            vec![Filter::Flate]
        );
        assert_eq!(
            filters(b"<</Filter[/ASCII85Decode /FlateDecode]/Length 9>>"),
            vec![Filter::Ascii85, Filter::Flate]
        );
        assert_eq!(filters(b"<</Filter /DCTDecode>>"), vec![Filter::Stop]);
        assert_eq!(direct_length(b"<< /Length 42 /Filter /Fl >>"), Some(42));
        assert_eq!(direct_length(b"<< /Length 7 0 R >>"), None);
        assert_eq!(direct_length(b"<< /LengthX 7 >>"), None);
    }

    #[test]
    fn ascii_decoders() {
        assert_eq!(ascii_hex(b"48 65 6C6c6F7>").0, b"Hello\x70");
        assert_eq!(ascii85(b"87cURD]i,\"Ebo7~>").0, b"Hello World");
        assert_eq!(ascii85(b"z~>").0, [0; 4]);
        assert_eq!(run_length(b"\x02abc\xfdz\x80", 100).0, b"abczzzz");
    }

    #[test]
    fn lzw_decodes_the_spec_example() {
        // The example of the PDF reference (7.4.4.2): 45 45 45 45 45 65 45 45 45 66.
        let data = [0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01];
        assert_eq!(
            lzw(&data, 1 << 20).0,
            b"\x2d\x2d\x2d\x2d\x2d\x41\x2d\x2d\x2d\x42"
        );
    }

    #[test]
    fn streams_found_by_keyword() {
        let doc = b"%PDF-1.4\n1 0 obj\n<< /Length 5 >>\nstream\r\nHELLO\nendstream\nendobj\n\
            2 0 obj << /Length 9 0 R >> stream\nWORLD\r\nendstream endobj";
        let mut at = 0;
        let a = next_stream(doc, &mut at).unwrap();
        assert_eq!((a.object, a.data), (Some((1, 0)), &b"HELLO"[..]));
        let b = next_stream(doc, &mut at).unwrap();
        assert_eq!((b.object, b.data), (Some((2, 0)), &b"WORLD"[..]));
        assert!(next_stream(doc, &mut at).is_none());
    }
}
