//! UPX-packed Windows PE executables: recovers the image that UPX's unpacking stub would
//! write to memory, so that the signature engine sees the original code and data instead of
//! the compressed stream.
//!
//! What it does:
//! - parses the PE headers (PE32 and PE32+) and locates the compressed stream, from the i386
//!   stub at the entry point (`pushad; mov esi, src; lea edi, [esi + dst]`), from the amd64
//!   stub (`lea rsi, [rip + src]; lea rdi, [rsi + dst]`; no 64-bit sample was at hand, so
//!   that path is untested), or, when the stub is not
//!   recognised (renamed or scrambled files), from the usual UPX section layout (an empty
//!   first section followed by one holding the compressed data);
//! - decompresses NRV2B, NRV2D and NRV2E streams with UPX's 32-bit little-endian bit buffer
//!   (methods 2, 5 and 8 of UPX 1.x to 4.x), and LZMA streams (method 14, `--lzma`); the
//!   method is taken from the `UPX!` pack header when present, else every method is tried
//!   and the first one that reaches its end marker cleanly wins (the header's Adler-32 of
//!   the decompressed data, when present, confirms the choice);
//! - undoes UPX's call/jump filters: CT filters 0x24 to 0x26 (`E8`/`E9` operands turned into
//!   absolute big-endian addresses marked by a `cto` byte; 0x26 is the one UPX 3.x uses on
//!   i386 PE and is checked against a real file) and the older little-endian 0x21 to 0x23,
//!   bounded by the call count read from the stub's unfilter loop when it can be read (else
//!   the filter id and `cto` come from the pack header and the whole image is scanned).
//!
//! What it does not do:
//! - rebuild a runnable PE: the import table, relocations and resources that the stub or
//!   loader would fix up are left as they are in the decompressed image (the PE headers
//!   are not rebuilt either);
//! - other UPX targets (ELF, Mach-O, DOS, …), the 8-bit and 16-bit bit-buffer variants of
//!   NRV (other architectures), the CL1B and deflate methods, and the newer multi-byte
//!   filters (0x46 to 0x52 …) of 64-bit UPX builds; those are reported as errors or left
//!   filtered.
//!
//! Every decoder is written for hostile input: it never panics, never writes more than the
//! caller's `max_out` bytes, and each step consumes input or ends.

use crate::le::u32_at;
use std::io::Read;

/// Why a UPX image could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UpxError {
    /// The input is not a PE executable, or its headers are cut short.
    #[error("not a PE executable: {0}")]
    NotPe(&'static str),
    /// No compressed UPX stream could be located in the PE.
    #[error("no UPX stub or UPX section layout found")]
    NoStub,
    /// The stub points at an address that no section of the file backs.
    #[error("the compressed data address {0:#x} is outside the file")]
    BadAddress(u64),
    /// The compressed stream ended before its end marker.
    #[error("the compressed stream is truncated")]
    Truncated,
    /// The compressed stream holds an impossible code.
    #[error("the compressed stream is corrupt: {0}")]
    Corrupt(&'static str),
    /// A back-reference points before the start of the output.
    #[error("a back-reference of distance {distance} points before the start of the output ({produced} bytes produced)")]
    BackReference {
        /// Distance of the offending match.
        distance: usize,
        /// Bytes produced when it was met.
        produced: usize,
    },
    /// The decompressed image would exceed the caller's limit.
    #[error("the decompressed image exceeds the limit of {0} bytes")]
    TooBig(usize),
    /// The pack header names a compression method this module does not decode.
    #[error("unsupported UPX compression method {0}")]
    UnsupportedMethod(u8),
}

type Result<T> = std::result::Result<T, UpxError>;

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/// Unpacks the UPX-packed PE in `pe`: returns the decompressed image (the bytes the UPX stub
/// would write to memory, i.e. the original sections laid out at their RVAs relative to the
/// start of the decompression destination, or the raw decompressed stream), never more than
/// `max_out` bytes (exceeding it is an error, not a truncation).
///
/// Call filters (`E8`/`E9` operands) are undone as the stub would; imports and relocations
/// are not fixed up.
pub fn unpack(pe: &[u8], max_out: usize) -> Result<Vec<u8>> {
    let image = Pe::parse(pe)?;
    let header = PackHeader::find(pe);
    let stub = image.stub(pe);
    let src = match &stub {
        Some(s) => match image.file_slice(pe, s.src_rva) {
            Ok(src) => src,
            Err(e) => image.fallback_stream(pe).ok_or(e)?,
        },
        None => image.fallback_stream(pe).ok_or(UpxError::NoStub)?,
    };

    // Methods to try, the pack header's first.
    let mut order: Vec<Method> = Vec::with_capacity(5);
    let mut unsupported = None;
    if let Some(h) = &header {
        match Method::from_id(h.method) {
            Some(m) => order.push(m),
            // A method this module lacks, or a tampered header: try the known ones anyway.
            None => unsupported = Some(UpxError::UnsupportedMethod(h.method)),
        }
    }
    for m in [Method::Nrv2b, Method::Nrv2d, Method::Nrv2e, Method::Lzma] {
        if !order.contains(&m) {
            order.push(m);
        }
    }

    let u_len = header.as_ref().and_then(|h| usize::try_from(h.u_len).ok());
    let want_adler = header.as_ref().map(|h| h.u_adler);
    let mut first_ok: Option<Vec<u8>> = None;
    let mut first_err: Option<UpxError> = None;
    for m in order {
        match m.decode(src, max_out, u_len) {
            Ok(out) => {
                let confirmed = want_adler.is_none_or(|a| adler32(&out) == a);
                if confirmed {
                    first_ok = Some(out);
                    break;
                }
                if first_ok.is_none() {
                    first_ok = Some(out);
                }
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    let mut out = match first_ok {
        Some(o) => o,
        None => return Err(unsupported.or(first_err).unwrap_or(UpxError::NoStub)),
    };

    // Undo the call filter.
    let filter = stub.as_ref().and_then(|s| s.filter).or_else(|| {
        header.as_ref().map(|h| CtFilter {
            id: h.filter,
            cto: h.filter_cto,
            calls: None,
        })
    });
    if let Some(f) = filter {
        f.unfilter(&mut out);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Little helpers
// ---------------------------------------------------------------------------------------------

/// Adler-32 as UPX's pack header records it.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

// ---------------------------------------------------------------------------------------------
// PE headers
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Section {
    vsize: u32,
    va: u32,
    raw_size: u32,
    raw_ptr: u32,
}

#[derive(Debug)]
struct Pe {
    pe64: bool,
    entry: u32,
    image_base: u64,
    sections: Vec<Section>,
}

/// What the stub at the entry point tells.
#[derive(Debug)]
struct Stub {
    src_rva: u32,
    filter: Option<CtFilter>,
}

impl Pe {
    fn parse(d: &[u8]) -> Result<Pe> {
        let h = crate::pe::Headers::parse(d).map_err(|e| {
            UpxError::NotPe(match e {
                crate::pe::PeError::NoMz => "no MZ signature",
                crate::pe::PeError::Short => "DOS header cut short",
                crate::pe::PeError::NoSignature => "no PE signature",
            })
        })?;
        let o = h.optional.ok_or(UpxError::NotPe("PE headers cut short"))?;
        let pe64 = match o.magic {
            crate::pe::MAGIC_PE32 => false,
            crate::pe::MAGIC_PE32_PLUS => true,
            _ => return Err(UpxError::NotPe("unknown optional header magic")),
        };
        let sections: Vec<Section> = h
            .sections
            .iter()
            .map(|s| Section {
                vsize: s.virtual_size,
                va: s.rva,
                raw_size: s.raw_size,
                raw_ptr: s.raw_offset,
            })
            .collect();
        if sections.is_empty() {
            return Err(UpxError::NotPe("no section table"));
        }
        Ok(Pe {
            pe64,
            entry: o.entry,
            image_base: o.image_base,
            sections,
        })
    }

    /// The file bytes backing `rva`, up to the end of its section's raw data.
    fn file_slice<'a>(&self, d: &'a [u8], rva: u32) -> Result<&'a [u8]> {
        for s in &self.sections {
            let span = s.vsize.max(s.raw_size);
            let Some(delta) = rva.checked_sub(s.va) else {
                continue;
            };
            if delta >= span || delta >= s.raw_size {
                continue;
            }
            let start = (s.raw_ptr as usize).saturating_add(delta as usize);
            let end = (s.raw_ptr as usize)
                .saturating_add(s.raw_size as usize)
                .min(d.len());
            if let Some(b) = d.get(start..end) {
                if !b.is_empty() {
                    return Ok(b);
                }
            }
        }
        Err(UpxError::BadAddress(u64::from(rva)))
    }

    /// Reads the unpacking stub at the entry point, if it is one this module knows.
    fn stub(&self, d: &[u8]) -> Option<Stub> {
        let code = self.file_slice(d, self.entry).ok()?;
        let code = &code[..code.len().min(0x1000)];
        let src_rva = if self.pe64 {
            // push rbx; push rsi; push rdi; push rbp; lea rsi, [rip + rel32]; lea rdi, [rsi + disp32]
            let at = memchr::memmem::find(&code[..code.len().min(32)], b"\x48\x8d\x35")?;
            let rel = u32_at(code, at + 3)? as i32;
            let next = u64::from(self.entry) + at as u64 + 7;
            let va = next.wrapping_add(rel as i64 as u64);
            if code.get(at + 7..at + 10)? != b"\x48\x8d\xbe" {
                return None;
            }
            u32::try_from(va).ok()?
        } else {
            // pushad; mov esi, imm32; lea edi, [esi + disp32]
            let at = memchr::memmem::find(&code[..code.len().min(32)], b"\x60\xbe")?;
            if code.get(at + 6..at + 8)? != b"\x8d\xbe" {
                return None;
            }
            let va = u64::from(u32_at(code, at + 2)?);
            u32::try_from(va.checked_sub(self.image_base)?).ok()?
        };
        Some(Stub {
            src_rva,
            filter: CtFilter::from_stub(code),
        })
    }

    /// Without a known stub: the compressed data starts UPX's second section, the first one
    /// being empty in the file and reserved in memory for the output.
    fn fallback_stream<'a>(&self, d: &'a [u8]) -> Option<&'a [u8]> {
        let first = self.sections.first()?;
        let second = self.sections.get(1)?;
        if first.raw_size != 0 || first.vsize == 0 || second.raw_size == 0 {
            return None;
        }
        self.file_slice(d, second.va).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Pack header ("UPX!")
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct PackHeader {
    method: u8,
    u_adler: u32,
    u_len: u32,
    filter: u8,
    filter_cto: u8,
}

impl PackHeader {
    /// The first `UPX!` mark in the first 64 KiB whose version and format look like a real
    /// UPX PE header, format versions 10 to 14 (the mark alone is often forged or wiped).
    fn find(d: &[u8]) -> Option<PackHeader> {
        let head = &d[..d.len().min(0x10000)];
        let mut from = 0usize;
        while let Some(i) = memchr::memmem::find(head.get(from..)?, b"UPX!") {
            let at = from + i;
            let h = head.get(at..at + 32);
            if let Some(h) = h {
                let version = h[4];
                let format = h[5];
                // UPX_F_WIN32_PE = 9, UPX_F_WIN64_PEP = 36; version >= 10 for this layout.
                if (10..=14).contains(&version) && (format == 9 || format == 36) {
                    return Some(PackHeader {
                        method: h[6],
                        u_adler: u32_at(h, 8)?,
                        u_len: u32_at(h, 16)?,
                        filter: h[28],
                        filter_cto: h[29],
                    });
                }
            }
            from = at + 4;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Nrv2b,
    Nrv2d,
    Nrv2e,
    Lzma,
}

impl Method {
    fn from_id(id: u8) -> Option<Method> {
        match id {
            2 => Some(Method::Nrv2b),
            5 => Some(Method::Nrv2d),
            8 => Some(Method::Nrv2e),
            14 => Some(Method::Lzma),
            _ => None,
        }
    }

    fn decode(self, src: &[u8], max_out: usize, u_len: Option<usize>) -> Result<Vec<u8>> {
        match self {
            Method::Nrv2b => nrv_decode(Nrv::B, src, max_out),
            Method::Nrv2d => nrv_decode(Nrv::D, src, max_out),
            Method::Nrv2e => nrv_decode(Nrv::E, src, max_out),
            Method::Lzma => lzma_decode(src, max_out, u_len),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// NRV2B / NRV2D / NRV2E
// ---------------------------------------------------------------------------------------------

/// The NRV variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nrv {
    B,
    D,
    E,
}

/// UPX's bit reader: 32-bit little-endian words, most significant bit first, interleaved in
/// the byte stream with the literal and offset bytes.
struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    word: u32,
    left: u32,
}

impl<'a> Bits<'a> {
    fn new(src: &'a [u8]) -> Self {
        Bits {
            src,
            pos: 0,
            word: 0,
            left: 0,
        }
    }

    fn bit(&mut self) -> Result<u32> {
        if self.left == 0 {
            self.word = u32_at(self.src, self.pos).ok_or(UpxError::Truncated)?;
            self.pos += 4;
            self.left = 32;
        }
        self.left -= 1;
        Ok((self.word >> self.left) & 1)
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self.src.get(self.pos).ok_or(UpxError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// `v * 2 + bit`, refusing overflow.
    fn shift_in(&mut self, v: u32) -> Result<u32> {
        let b = self.bit()?;
        v.checked_mul(2)
            .and_then(|x| x.checked_add(b))
            .ok_or(UpxError::Corrupt("overlong gamma code"))
    }

    /// The gamma-coded tail shared by the length codes: `v = v * 2 + bit` until a 1 bit.
    fn gamma(&mut self, mut v: u32) -> Result<u32> {
        loop {
            v = self.shift_in(v)?;
            if self.bit()? == 1 {
                return Ok(v);
            }
        }
    }
}

/// Decodes one NRV stream up to its end marker.
fn nrv_decode(variant: Nrv, src: &[u8], max_out: usize) -> Result<Vec<u8>> {
    // Far matches are one byte longer than their code says.
    let threshold: u32 = match variant {
        Nrv::B => 0xd00,
        Nrv::D | Nrv::E => 0x500,
    };
    let mut out: Vec<u8> =
        Vec::with_capacity(max_out.min(src.len().saturating_mul(4)).min(1 << 22));
    let mut bits = Bits::new(src);
    let mut last_off: u32 = 1;
    loop {
        while bits.bit()? == 1 {
            let b = bits.byte()?;
            if out.len() >= max_out {
                return Err(UpxError::TooBig(max_out));
            }
            out.push(b);
        }

        // Offset: gamma code of its high part.
        let mut off: u32 = 1;
        match variant {
            Nrv::B => {
                off = bits.gamma(off)?;
            }
            Nrv::D | Nrv::E => loop {
                off = bits.shift_in(off)?;
                if bits.bit()? == 1 {
                    break;
                }
                off = bits.shift_in(off.saturating_sub(1))?;
            },
        }

        let mut len: u32 = 0;
        if off == 2 {
            off = last_off;
            if variant != Nrv::B {
                len = bits.bit()?;
            }
        } else {
            let high = off
                .checked_sub(3)
                .and_then(|h| h.checked_mul(256))
                .ok_or(UpxError::Corrupt("offset too large"))?;
            off = high | u32::from(bits.byte()?);
            if off == u32::MAX {
                return Ok(out);
            }
            if variant != Nrv::B {
                len = (off ^ u32::MAX) & 1;
                off >>= 1;
            }
            off += 1;
            last_off = off;
        }

        // Length.
        match variant {
            Nrv::B => {
                len = bits.shift_in(0)?;
                len = bits.shift_in(len)?;
                if len == 0 {
                    len = bits
                        .gamma(1)?
                        .checked_add(2)
                        .ok_or(UpxError::Corrupt("length too large"))?;
                }
            }
            Nrv::D => {
                len = bits.shift_in(len)?;
                if len == 0 {
                    len = bits
                        .gamma(1)?
                        .checked_add(2)
                        .ok_or(UpxError::Corrupt("length too large"))?;
                }
            }
            Nrv::E => {
                if len != 0 {
                    len = 1 + bits.bit()?;
                } else if bits.bit()? == 1 {
                    len = 3 + bits.bit()?;
                } else {
                    len = bits
                        .gamma(1)?
                        .checked_add(3)
                        .ok_or(UpxError::Corrupt("length too large"))?;
                }
            }
        }
        let total = (len as usize)
            .saturating_add(usize::from(off > threshold))
            .saturating_add(1);
        copy_match(&mut out, off as usize, total, max_out)?;
    }
}

/// Appends `len` bytes copied from `distance` bytes back (overlapping copies repeat).
fn copy_match(out: &mut Vec<u8>, distance: usize, len: usize, max_out: usize) -> Result<()> {
    if distance == 0 || distance > out.len() {
        return Err(UpxError::BackReference {
            distance,
            produced: out.len(),
        });
    }
    if len > max_out.saturating_sub(out.len()) {
        return Err(UpxError::TooBig(max_out));
    }
    let mut left = len;
    while left > 0 {
        let start = out.len() - distance;
        let n = left.min(distance);
        out.extend_from_within(start..start + n);
        left -= n;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LZMA
// ---------------------------------------------------------------------------------------------

/// UPX's LZMA stream: two header bytes (`(lc + lp) << 3 | pb`, then `lp << 4 | lc`), then raw
/// LZMA data without end marker. With `size` (the pack header's decompressed length) the
/// stream must yield exactly that many bytes; without it, decoding runs until the input gives
/// out and keeps what was produced.
fn lzma_decode(src: &[u8], max_out: usize, size: Option<usize>) -> Result<Vec<u8>> {
    let (Some(&b0), Some(&b1)) = (src.first(), src.get(1)) else {
        return Err(UpxError::Truncated);
    };
    let pb = u32::from(b0 & 7);
    let lc = u32::from(b1 & 0x0f);
    let lp = u32::from(b1 >> 4);
    if pb > 4 || lc > 8 || lp > 4 || u32::from(b0 >> 3) != lc + lp {
        return Err(UpxError::Corrupt("bad LZMA properties"));
    }
    let data = src.get(2..).ok_or(UpxError::Truncated)?;
    let size = size.filter(|&n| n > 0);
    if let Some(n) = size {
        if n > max_out {
            return Err(UpxError::TooBig(max_out));
        }
    }
    // The dictionary never needs to be larger than the output (UPX sizes it so).
    let dict = size.unwrap_or(max_out).clamp(4096, 1 << 25);
    let dict = u32::try_from(dict).unwrap_or(1 << 25);
    let declared = size.map_or(u64::MAX, |n| n as u64);
    let mut reader = lzma_rust2::LzmaReader::new(data, declared, lc, lp, pb, dict, None)
        .map_err(|_| UpxError::Corrupt("bad LZMA properties"))?;
    reader.set_defer_errors(true);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let chunk = buf
                    .get(..n)
                    .ok_or(UpxError::Corrupt("LZMA reader overran"))?;
                if chunk.len() > max_out.saturating_sub(out.len()) {
                    return Err(UpxError::TooBig(max_out));
                }
                out.extend_from_slice(chunk);
            }
            // Without a known size the stream ends where its input does.
            Err(_) if size.is_none() && !out.is_empty() => break,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(UpxError::Truncated)
            }
            Err(_) => return Err(UpxError::Corrupt("LZMA data error")),
        }
    }
    match size {
        Some(n) if out.len() != n => Err(UpxError::Truncated),
        _ if out.is_empty() => Err(UpxError::Corrupt("empty LZMA stream")),
        _ => Ok(out),
    }
}

// ---------------------------------------------------------------------------------------------
// CT filters (E8/E9 calls and jumps)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct CtFilter {
    id: u8,
    cto: u8,
    /// How many operands the stub converts back, when read from the stub.
    calls: Option<u32>,
}

impl CtFilter {
    /// Reads the i386 unfilter loop of the stub: `pop esi; mov edi, esi; mov ecx, calls`,
    /// then the scan for `E8`/`E9` and the `cmp byte [edi], cto`.
    fn from_stub(code: &[u8]) -> Option<CtFilter> {
        let mut from = 0usize;
        while let Some(i) = memchr::memmem::find(code.get(from..)?, b"\x5e\x89\xf7\xb9") {
            let at = from + i;
            from = at + 1;
            let calls = u32_at(code, at + 4)?;
            let body = code.get(at + 8..(at + 40).min(code.len()))?;
            // mov al,[edi]; inc edi; sub al,0xe8; cmp al,1; ja back; cmp byte [edi], cto
            let id = if body.starts_with(b"\x8a\x07\x47\x2c\xe8\x3c\x01\x77") {
                0x26
            } else if body.starts_with(b"\x8a\x07\x47\x3c\xe8\x75") {
                0x24
            } else if body.starts_with(b"\x8a\x07\x47\x3c\xe9\x75") {
                0x25
            } else {
                continue;
            };
            let cmp = memchr::memmem::find(body, b"\x80\x3f")?;
            let cto = *body.get(cmp + 2)?;
            return Some(CtFilter {
                id,
                cto,
                calls: Some(calls),
            });
        }
        None
    }

    /// Turns the filtered absolute addresses back into relative operands, in place.
    fn unfilter(&self, buf: &mut [u8]) {
        let (e8, e9, bswap) = match self.id {
            0x21 => (true, false, false),
            0x22 => (false, true, false),
            0x23 => (true, true, false),
            0x24 => (true, false, true),
            0x25 => (false, true, true),
            0x26 => (true, true, true),
            _ => return,
        };
        let mut calls = self.calls.unwrap_or(u32::MAX);
        let mut i = 0usize;
        while calls > 0 && i + 5 <= buf.len() {
            let op = buf[i];
            if !((op == 0xe8 && e8) || (op == 0xe9 && e9)) {
                i += 1;
                continue;
            }
            let at = i + 1;
            let pos = u32::try_from(at).unwrap_or(u32::MAX);
            let raw = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
            let rel = if bswap {
                if raw[0] != self.cto {
                    i += 1;
                    continue;
                }
                let abs = u32::from_be_bytes([0, raw[1], raw[2], raw[3]]);
                abs.wrapping_sub(pos)
            } else {
                u32::from_le_bytes(raw).wrapping_sub(pos)
            };
            buf[at..at + 4].copy_from_slice(&rel.to_le_bytes());
            calls -= 1;
            i += 5;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::le::testfile;

    // --- A small NRV encoder, for round trips (greedy, naive match search) ---------------------

    struct BitWriter {
        out: Vec<u8>,
        slot: usize,
        word: u32,
        used: u32,
    }

    impl BitWriter {
        fn new() -> Self {
            BitWriter {
                out: Vec::new(),
                slot: 0,
                word: 0,
                used: 32,
            }
        }
        fn bit(&mut self, b: u32) {
            if self.used == 32 {
                self.slot = self.out.len();
                self.out.extend_from_slice(&[0; 4]);
                self.word = 0;
                self.used = 0;
            }
            self.used += 1;
            self.word |= (b & 1) << (32 - self.used);
            self.out[self.slot..self.slot + 4].copy_from_slice(&self.word.to_le_bytes());
        }
        fn byte(&mut self, b: u8) {
            self.out.push(b);
        }
        /// The simple gamma code read by `Bits::gamma` starting from 1: `x >= 2`.
        fn gamma(&mut self, x: u32) {
            let n = 32 - x.leading_zeros();
            for i in (0..n - 1).rev() {
                self.bit((x >> i) & 1);
                self.bit(u32::from(i == 0));
            }
        }
        /// The NRV2D/2E offset code: `x >= 2`.
        fn gamma_de(&mut self, x: u32) {
            // Work backwards from the final `off * 2 + b1, stop` step.
            let mut steps = vec![(x & 1, None)];
            let mut v = x >> 1;
            while v != 1 {
                let b2 = v & 1;
                let o = (v >> 1) + 1;
                steps.push((o & 1, Some(b2)));
                v = o >> 1;
            }
            for (b1, b2) in steps.into_iter().rev() {
                self.bit(b1);
                match b2 {
                    Some(b2) => {
                        self.bit(0);
                        self.bit(b2);
                    }
                    None => self.bit(1),
                }
            }
        }
    }

    /// Compresses `data` with `variant`; `rep` allows "same offset as last time" codes.
    fn nrv_encode(variant: Nrv, data: &[u8], rep: bool) -> Vec<u8> {
        let threshold = if variant == Nrv::B { 0xd00 } else { 0x500 };
        let mut w = BitWriter::new();
        let mut last = 1usize;
        let mut i = 0;
        // Recent positions of each 3-byte prefix, newest last.
        let mut seen: std::collections::HashMap<[u8; 3], Vec<usize>> = Default::default();
        let remember = |seen: &mut std::collections::HashMap<[u8; 3], Vec<usize>>, p: usize| {
            if let Some(k) = data.get(p..p + 3) {
                let v = seen.entry([k[0], k[1], k[2]]).or_default();
                v.push(p);
                if v.len() > 16 {
                    v.remove(0);
                }
            }
        };
        while i < data.len() {
            // Longest match among the 8 nearest distances and the recent 3-byte prefixes.
            let (mut best_d, mut best_n) = (0usize, 0usize);
            let mut cands: Vec<usize> = (1..=i.min(8)).collect();
            if let Some(k) = data.get(i..i + 3) {
                if let Some(v) = seen.get(&[k[0], k[1], k[2]]) {
                    cands.extend(v.iter().rev().map(|&p| i - p));
                }
            }
            for d in cands {
                let mut n = 0;
                while i + n < data.len() && data[i + n - d] == data[i + n] && n < 600 {
                    n += 1;
                }
                if n > best_n {
                    best_n = n;
                    best_d = d;
                }
            }
            let extra = usize::from(best_d > threshold);
            // Shortest match each code can express: len >= 1 (2E: len >= 1 too).
            if best_n < 2 + extra || (best_d > threshold && best_n < 4) {
                w.bit(1);
                w.byte(data[i]);
                remember(&mut seen, i);
                i += 1;
                continue;
            }
            let total = best_n;
            let len = (total - 1 - extra) as u32;
            w.bit(0);
            let use_rep = rep && best_d == last;
            match variant {
                Nrv::B => {
                    if use_rep {
                        w.gamma(2);
                    } else {
                        let v = (best_d - 1) as u32;
                        w.gamma((v >> 8) + 3);
                        w.byte(v as u8);
                    }
                    if len <= 3 {
                        w.bit(len >> 1);
                        w.bit(len & 1);
                    } else {
                        w.bit(0);
                        w.bit(0);
                        w.gamma(len - 2);
                    }
                }
                Nrv::D | Nrv::E => {
                    // The first length bit travels with the offset.
                    let (first, rest_d, rest_e) = match variant {
                        Nrv::D if len <= 3 => (len >> 1, Some(len & 1), None),
                        Nrv::D => (0, Some(0), None),
                        _ if len <= 2 => (1, None, Some(len - 1)),
                        _ => (0, None, None),
                    };
                    if use_rep {
                        w.gamma_de(2);
                        w.bit(first);
                    } else {
                        let v = (((best_d - 1) as u32) << 1) | (1 - first);
                        w.gamma_de((v >> 8) + 3);
                        w.byte(v as u8);
                    }
                    if variant == Nrv::D {
                        w.bit(rest_d.unwrap_or(0));
                        if len > 3 {
                            w.gamma(len - 2);
                        }
                    } else if let Some(b) = rest_e {
                        w.bit(b);
                    } else if len <= 4 {
                        w.bit(1);
                        w.bit(len - 3);
                    } else {
                        w.bit(0);
                        w.gamma(len - 3);
                    }
                }
            }
            last = best_d;
            for p in i..i + total {
                remember(&mut seen, p);
            }
            i += total;
        }
        // End marker.
        w.bit(0);
        match variant {
            Nrv::B => w.gamma(0x100_0002),
            _ => w.gamma_de(0x100_0002),
        }
        w.byte(0xff);
        w.out
    }

    fn sample(n: usize, seed: u32) -> Vec<u8> {
        // Text-like data with repeats near and far.
        let mut s = seed;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = (s >> 16) as usize;
            let (kind, reach) = (r % 3, r % 7);
            if kind == 0 && out.len() > 10 {
                let d = 1 + r % out.len().min(if reach == 0 { 9000 } else { 300 });
                let len = 2 + (r >> 4) % 40;
                for _ in 0..len {
                    let b = out[out.len() - d];
                    out.push(b);
                }
            } else {
                out.push(b"abcdefgh \n\xe8\x00"[r % 12]);
            }
        }
        out.truncate(n);
        out
    }

    /// A minimal UPX-like PE32: UPX0 (empty), UPX1 (`payload` then the stub), entry at the stub.
    fn build_pe(payload: &[u8], stub_tail: &[u8]) -> Vec<u8> {
        let base = 0x40_0000u32;
        let upx0_rva = 0x1000u32;
        let upx0_size = 0x10_0000u32;
        let upx1_rva = upx0_rva + upx0_size;
        let raw_ptr = 0x200u32;
        let stub_off = payload.len() as u32;
        let mut stub = vec![0x60, 0xbe];
        stub.extend_from_slice(&(base + upx1_rva).to_le_bytes());
        stub.extend_from_slice(&[0x8d, 0xbe]);
        stub.extend_from_slice(&(upx0_rva.wrapping_sub(upx1_rva)).to_le_bytes());
        stub.extend_from_slice(stub_tail);
        let mut raw = payload.to_vec();
        raw.extend_from_slice(&stub);
        let raw_size = raw.len() as u32;

        let mut f = vec![0u8; raw_ptr as usize];
        f[..2].copy_from_slice(b"MZ");
        f[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        f[0x40..0x44].copy_from_slice(b"PE\0\0");
        f[0x44..0x46].copy_from_slice(&0x14cu16.to_le_bytes());
        f[0x46..0x48].copy_from_slice(&2u16.to_le_bytes());
        f[0x54..0x56].copy_from_slice(&0xe0u16.to_le_bytes());
        let opt = 0x58;
        f[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
        f[opt + 16..opt + 20].copy_from_slice(&(upx1_rva + stub_off).to_le_bytes());
        f[opt + 28..opt + 32].copy_from_slice(&base.to_le_bytes());
        let t = opt + 0xe0;
        let sec = |f: &mut Vec<u8>, at: usize, name: &[u8], vs: u32, va: u32, rs: u32, rp: u32| {
            f[at..at + name.len()].copy_from_slice(name);
            f[at + 8..at + 12].copy_from_slice(&vs.to_le_bytes());
            f[at + 12..at + 16].copy_from_slice(&va.to_le_bytes());
            f[at + 16..at + 20].copy_from_slice(&rs.to_le_bytes());
            f[at + 20..at + 24].copy_from_slice(&rp.to_le_bytes());
        };
        sec(&mut f, t, b"UPX0", upx0_size, upx0_rva, 0, 0);
        sec(
            &mut f,
            t + 40,
            b"UPX1",
            0x10_0000,
            upx1_rva,
            raw_size,
            raw_ptr,
        );
        f.extend_from_slice(&raw);
        f
    }

    // --- The real file ----------------------------------------------------------------------

    #[test]
    fn clam_upx_unpacks_to_clam_exe() {
        let (Some(packed), Some(clam)) = (testfile("clam-upx.exe"), testfile("clam.exe")) else {
            return;
        };
        let out = unpack(&packed, 1 << 20).expect("clam-upx.exe unpacks");
        assert_eq!(out.len(), 0x420a, "the pack header's u_len");
        assert!(
            memchr::memmem::find(&out, &clam).is_some(),
            "clam.exe is in the image"
        );
        // The one filtered call (at 0x35) is back to its relative form: call +0x8a.
        assert_eq!(&out[0x35..0x3a], b"\xe8\x8a\x00\x00\x00");
    }

    #[test]
    fn clam_upx_reads_header_and_stub() {
        let Some(packed) = testfile("clam-upx.exe") else {
            return;
        };
        let h = PackHeader::find(&packed).expect("pack header");
        assert_eq!(
            (h.method, h.filter, h.filter_cto, h.u_len),
            (2, 0x26, 0, 0x420a)
        );
        let pe = Pe::parse(&packed).unwrap();
        let stub = pe.stub(&packed).expect("stub");
        assert_eq!(stub.src_rva, 0x6000);
        let f = stub.filter.expect("unfilter loop");
        assert_eq!((f.id, f.cto, f.calls), (0x26, 0, Some(1)));
        // The raw stream matches the header's Adler-32.
        let src = pe.file_slice(&packed, stub.src_rva).unwrap();
        let raw = nrv_decode(Nrv::B, src, 1 << 20).unwrap();
        assert_eq!(adler32(&raw), h.u_adler);
        // The other decoders do not end cleanly on it.
        assert!(nrv_decode(Nrv::D, src, 1 << 20).is_err());
        assert!(nrv_decode(Nrv::E, src, 1 << 20).is_err());
    }

    #[test]
    fn clam_upx_limits() {
        let Some(packed) = testfile("clam-upx.exe") else {
            return;
        };
        for max in [0, 1, 100, 0x4209] {
            assert!(matches!(unpack(&packed, max), Err(UpxError::TooBig(m)) if m == max));
        }
        assert_eq!(unpack(&packed, 0x420a).unwrap().len(), 0x420a);
    }

    // --- Hand-made streams ------------------------------------------------------------------

    #[test]
    fn nrv2b_hand_made_stream() {
        // Bits, most significant first in one little-endian word:
        //   1 'a'  1 'b'  1 'c'           three literals
        //   0  1 1  1 0                    match: offset gamma "1, stop" -> 3 -> (3-3)*256 + byte;
        //                                  length bits 1,0 -> 2, so 2+1 = 3 bytes are copied
        //   0  then 24 x "bit, stop?"      end marker: offset gamma 0x1000002, then byte 0xff
        // 8 + 49 bits: the first word holds 32 of them, the second word the other 25.
        let mut bits: Vec<u32> = vec![1, 1, 1, 0, 1, 1, 1, 0];
        // End marker: 0 (match), gamma of 0x1000002 (25 bits: 1 then 0x000002 in 24 bits).
        bits.push(0);
        let x: u32 = 0x100_0002;
        for i in (0..24).rev() {
            bits.push((x >> i) & 1);
            bits.push(u32::from(i == 0));
        }
        // Lay the words out: each word's slot comes before the bytes read after its first bit.
        // Literals and the offset byte are read after the first word was loaded, so they follow it;
        // the second and third words are loaded after the offset byte.
        let word = |bs: &[u32]| -> [u8; 4] {
            let mut w = 0u32;
            for (k, b) in bs.iter().enumerate() {
                w |= b << (31 - k);
            }
            w.to_le_bytes()
        };
        let mut stream = Vec::new();
        stream.extend_from_slice(&word(&bits[..32]));
        stream.extend_from_slice(b"abc");
        stream.push(0x02); // offset byte: (3-3)*256 + 2 = 2, distance 3
        stream.extend_from_slice(&word(&bits[32..]));
        stream.push(0xff); // end marker's offset byte
        let out = nrv_decode(Nrv::B, &stream, 100).unwrap();
        assert_eq!(out, b"abcabc");
        // The test encoder agrees with the hand-made layout.
        assert_eq!(nrv_encode(Nrv::B, b"abcabc", false), stream);
    }

    #[test]
    fn round_trips_all_variants() {
        for variant in [Nrv::B, Nrv::D, Nrv::E] {
            for (n, seed) in [(0usize, 1u32), (1, 2), (7, 3), (500, 4), (20_000, 5)] {
                let data = sample(n, seed);
                for rep in [false, true] {
                    let packed = nrv_encode(variant, &data, rep);
                    let out = nrv_decode(variant, &packed, 1 << 20)
                        .unwrap_or_else(|e| panic!("{variant:?} n={n} rep={rep}: {e}"));
                    assert!(out == data, "{variant:?} n={n} rep={rep}: mismatch");
                }
            }
        }
    }

    #[test]
    fn synthetic_pe_with_each_method() {
        let data = sample(30_000, 9);
        for variant in [Nrv::B, Nrv::D, Nrv::E] {
            let pe = build_pe(&nrv_encode(variant, &data, true), &[0x57, 0x83, 0xcd, 0xff]);
            assert_eq!(unpack(&pe, 1 << 20).unwrap(), data, "{variant:?}");
        }
    }

    #[test]
    fn stub_filter_loop_is_undone() {
        // Original code: a call to offset 0x20 from 0x10; filtered: BE absolute with cto 0x00.
        let mut orig = vec![0x90u8; 0x30];
        orig[0x10] = 0xe8;
        orig[0x11..0x15].copy_from_slice(&(0x20u32 - 0x15).to_le_bytes());
        let mut filtered = orig.clone();
        // UPX stores rel + the operand's offset, big-endian, its top byte replaced by cto (0).
        let abs = 0x11u32 + (0x20 - 0x15);
        filtered[0x11..0x15].copy_from_slice(&abs.to_be_bytes());
        let tail: &[u8] = b"\x57\x83\xcd\xff\x5e\x89\xf7\xb9\x01\x00\x00\x00\x8a\x07\x47\x2c\xe8\x3c\x01\x77\xf7\x80\x3f\x00\x75\xf2";
        let pe = build_pe(&nrv_encode(Nrv::B, &filtered, false), tail);
        assert_eq!(unpack(&pe, 1 << 20).unwrap(), orig);
    }

    /// "UPX LZMA test: hello hello hello hello, packed world!" in UPX's LZMA format (lc 3,
    /// lp 0, pb 2, no end marker), made with lzma-rust2's encoder.
    const LZMA_SMALL: [u8; 45] = [
        26, 3, 0, 42, 148, 7, 74, 189, 154, 26, 31, 140, 190, 192, 142, 16, 163, 183, 247, 252,
        104, 2, 100, 165, 124, 42, 160, 190, 147, 225, 124, 237, 51, 4, 12, 253, 15, 16, 33, 187,
        16, 64, 212, 80, 0,
    ];
    const LZMA_SMALL_TEXT: &[u8] = b"UPX LZMA test: hello hello hello hello, packed world!";

    #[test]
    fn lzma_stream() {
        let n = LZMA_SMALL_TEXT.len();
        assert_eq!(
            lzma_decode(&LZMA_SMALL, 1000, Some(n)).unwrap(),
            LZMA_SMALL_TEXT
        );
        // Without the size: the whole text, then whatever the range coder makes of the end.
        let out = lzma_decode(&LZMA_SMALL, 1000, None).unwrap();
        assert!(out.starts_with(LZMA_SMALL_TEXT));
        assert!(matches!(
            lzma_decode(&LZMA_SMALL, 10, Some(n)),
            Err(UpxError::TooBig(10))
        ));
        assert!(lzma_decode(&LZMA_SMALL[..20], 1000, Some(n)).is_err());
        assert!(lzma_decode(&[0xff, 0xff, 0, 0], 1000, None).is_err());
        for cut in 0..LZMA_SMALL.len() {
            if let Ok(o) = lzma_decode(&LZMA_SMALL[..cut], 30, None) {
                assert!(o.len() <= 30);
            }
        }
    }

    #[test]
    fn lzma_pe_with_pack_header() {
        let mut pe = build_pe(&LZMA_SMALL, &[0x57]);
        let mut hdr = b"UPX!".to_vec();
        hdr.extend_from_slice(&[13, 9, 14, 8]); // version, format (win32/pe), method (LZMA), level
        hdr.extend_from_slice(&adler32(LZMA_SMALL_TEXT).to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        hdr.extend_from_slice(&(LZMA_SMALL_TEXT.len() as u32).to_le_bytes());
        hdr.extend_from_slice(&(LZMA_SMALL.len() as u32).to_le_bytes());
        hdr.extend_from_slice(&[0; 8]);
        pe[0x1c0..0x1e0].copy_from_slice(&hdr);
        assert_eq!(unpack(&pe, 1000).unwrap(), LZMA_SMALL_TEXT);
    }

    // --- Hostile input ----------------------------------------------------------------------

    fn check(d: &[u8], max_out: usize) {
        if let Ok(out) = unpack(d, max_out) {
            assert!(out.len() <= max_out);
        }
    }

    #[test]
    fn truncated_files_do_not_panic() {
        let Some(packed) = testfile("clam-upx.exe") else {
            return;
        };
        // Every cut in the headers, then every 11th, then every one near the end.
        let cuts = (0..0x420)
            .chain((0x420..packed.len()).step_by(11))
            .chain(packed.len().saturating_sub(40)..=packed.len());
        for n in cuts {
            check(&packed[..n], 1 << 20);
        }
        // Cut inside the compressed stream: an error, not a short image.
        let mut cut = packed.clone();
        for b in &mut cut[0x500..0x6ff] {
            *b = 0;
        }
        check(&cut, 1 << 20);
    }

    #[test]
    fn corrupted_streams_do_not_panic() {
        let Some(packed) = testfile("clam-upx.exe") else {
            return;
        };
        let mut s = 0x1234_5678u32;
        for round in 0..150 {
            let mut d = packed.clone();
            for _ in 0..1 + round % 8 {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = 0x3e0 + (s >> 8) as usize % 0x340;
                d[at] ^= (s >> 3) as u8 | 1;
            }
            check(&d, 1 << 20);
            check(&d, 0x1000);
        }
        // Corrupting the headers and the entry point too.
        for round in 0..150 {
            let mut d = packed.clone();
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (s >> 8) as usize % d.len();
            d[at] = (s >> 24) as u8 ^ round as u8;
            check(&d, 1 << 20);
        }
    }

    #[test]
    fn random_bytes_do_not_panic() {
        let mut s = 42u32;
        let mut next = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) as u8
        };
        for _ in 0..200 {
            let stream: Vec<u8> = (0..600).map(|_| next()).collect();
            for v in [Nrv::B, Nrv::D, Nrv::E] {
                if let Ok(out) = nrv_decode(v, &stream, 4096) {
                    assert!(out.len() <= 4096);
                }
            }
            let _ = lzma_decode(&stream, 4096, None);
            let _ = lzma_decode(&stream, 4096, Some(100));
            let pe = build_pe(&stream, &[]);
            check(&pe, 4096);
            check(&stream, 4096);
        }
    }

    #[test]
    fn back_reference_before_start_is_an_error() {
        // 0 (match), offset gamma 3 -> byte 0 -> distance 1, with nothing produced yet.
        let mut w = BitWriter::new();
        w.bit(0);
        w.gamma(3);
        w.byte(0);
        w.bit(1);
        w.bit(0);
        assert!(matches!(
            nrv_decode(Nrv::B, &w.out, 100),
            Err(UpxError::BackReference {
                distance: 1,
                produced: 0
            })
        ));
    }

    #[test]
    fn long_runs_respect_max_out() {
        // One literal and a huge overlapping match: must stop at max_out, not allocate it.
        let mut w = BitWriter::new();
        w.bit(1);
        w.byte(b'x');
        w.bit(0);
        w.gamma(3);
        w.byte(0);
        w.bit(0);
        w.bit(0);
        w.gamma(0x7fff_ffff);
        assert!(matches!(
            nrv_decode(Nrv::B, &w.out, 1000),
            Err(UpxError::TooBig(1000))
        ));
        // Gamma codes past 32 bits are refused, not wrapped.
        let mut w = BitWriter::new();
        for _ in 0..40 {
            w.bit(1);
            w.bit(0);
        }
        let mut bad = vec![0u8; 4];
        bad.extend_from_slice(&w.out);
        assert!(nrv_decode(Nrv::B, &bad, 1000).is_err());
    }

    #[test]
    fn not_pe() {
        assert!(matches!(unpack(b"", 10), Err(UpxError::NotPe(_))));
        assert!(matches!(unpack(b"MZ", 10), Err(UpxError::NotPe(_))));
        assert!(matches!(
            unpack(b"hello world", 10),
            Err(UpxError::NotPe(_))
        ));
    }
}
