//! Scripts encoded with Microsoft's Script Encoder (`screnc`, `JScript.Encode` and
//! `VBScript.Encode`), decoded as ClamAV 1.4's HTML normaliser decodes them: in place, in its
//! chunk buffer, quirks included (the HTML side, where a block is found, is in [`super::html`]).
//!
//! An encoded block is `#@~^`, the length of the encoded text in 6 base64 characters (the four
//! bytes of a little-endian `u32`, then `==`), the encoded text, its checksum (the sum of the
//! decoded bytes, written the same way), `==` and `^#~@`. Each byte of the text below 0x80 is
//! put through one of three substitution tables, chosen by its position among the decoded
//! bytes (mod 64, by a fixed pattern); `@` starts an escape (`@&` LF, `@#` CR, `@*` `>`, `@!`
//! `<`, `@$` `@`); CR and LF are left out; a byte from 0x80 is copied with the one after it (a
//! double-byte character), without taking a position. The format is described publicly (Andreas
//! Marx's analysis, on which ClamAV's decoder is based; Mr. Brownstone's `scrdec`); the tables
//! below are ClamAV's (`decrypt_tables` and `table_order` in `libclamav/htmlnorm.c`), retyped.
//!
//! What ClamAV does, and so this module (checked with clamscan 1.4.6 `--leave-temps`):
//! * the length is read with ClamAV's arithmetic, where a character outside base64 counts as -1
//!   in some of its terms (so a garbled length still gives a number); it is only a count of
//!   encoded bytes still to decode, never an allocation or an index, and wraps below zero when
//!   an escape is the last byte it counts (decoding then goes on to the end of the page);
//! * an escape whose second byte is none of the five decodes as 0xff; `@` at the end of a chunk
//!   decodes as 0xff and the next chunk starts a new byte;
//! * decoding stops at the end of the chunk and goes on in the next one (whose leading white
//!   space ClamAV skips, uncounted);
//! * once the length is reached, the next 12 bytes (checksum, `==`, `^#~@`) are dropped if the
//!   chunk has that many left, whatever they are; the checksum is not enforced.
//!
//! Decoding is in place and shrinks the buffer (every escape or CR/LF is one byte or none
//! written for two or one read): no allocation, linear in the chunk.

/// The table (0, 1 or 2) used at each position, mod 64.
const ORDER: [u8; 64] = [
    0, 2, 1, 0, 2, 1, 2, 1, 1, 2, 1, 2, 0, 1, 2, 1, 0, 1, 2, 1, 0, 0, 2, 1, 1, 2, 0, 1, 2, 1, 1, 2,
    0, 0, 1, 2, 1, 2, 1, 0, 1, 0, 0, 2, 1, 0, 1, 2, 0, 1, 2, 1, 0, 0, 2, 1, 1, 0, 0, 2, 1, 0, 1, 2,
];

/// The decoded byte of each encoded byte 0x20–0x7f, per table (0xff: `@`, an escape).
const TABLES: [[u8; 96]; 3] = [
    [
        0x2e, 0x47, 0x7a, 0x56, 0x42, 0x6a, 0x2f, 0x26, 0x49, 0x41, 0x34, 0x32, 0x5b, 0x76, 0x72,
        0x43, 0x38, 0x39, 0x70, 0x45, 0x68, 0x71, 0x4f, 0x09, 0x62, 0x44, 0x23, 0x75, 0x3c, 0x7e,
        0x3e, 0x5e, 0xff, 0x77, 0x4a, 0x61, 0x5d, 0x22, 0x4b, 0x6f, 0x4e, 0x3b, 0x4c, 0x50, 0x67,
        0x2a, 0x7d, 0x74, 0x54, 0x2b, 0x2d, 0x2c, 0x30, 0x6e, 0x6b, 0x66, 0x35, 0x25, 0x21, 0x64,
        0x4d, 0x52, 0x63, 0x3f, 0x7b, 0x78, 0x29, 0x28, 0x73, 0x59, 0x33, 0x7f, 0x6d, 0x55, 0x53,
        0x7c, 0x3a, 0x5f, 0x65, 0x46, 0x58, 0x31, 0x69, 0x6c, 0x5a, 0x48, 0x27, 0x5c, 0x3d, 0x24,
        0x79, 0x37, 0x60, 0x51, 0x20, 0x36,
    ],
    [
        0x32, 0x30, 0x21, 0x29, 0x5b, 0x38, 0x33, 0x3d, 0x58, 0x3a, 0x35, 0x65, 0x39, 0x5c, 0x56,
        0x73, 0x66, 0x4e, 0x45, 0x6b, 0x62, 0x59, 0x78, 0x5e, 0x7d, 0x4a, 0x6d, 0x71, 0x3c, 0x60,
        0x3e, 0x53, 0xff, 0x42, 0x27, 0x48, 0x72, 0x75, 0x31, 0x37, 0x4d, 0x52, 0x22, 0x54, 0x6a,
        0x47, 0x64, 0x2d, 0x20, 0x7f, 0x2e, 0x4c, 0x5d, 0x7e, 0x6c, 0x6f, 0x79, 0x74, 0x43, 0x26,
        0x76, 0x25, 0x24, 0x2b, 0x28, 0x23, 0x41, 0x34, 0x09, 0x2a, 0x44, 0x3f, 0x77, 0x3b, 0x55,
        0x69, 0x61, 0x63, 0x50, 0x67, 0x51, 0x49, 0x4f, 0x46, 0x68, 0x7c, 0x36, 0x70, 0x6e, 0x7a,
        0x2f, 0x5f, 0x4b, 0x5a, 0x2c, 0x57,
    ],
    [
        0x2d, 0x75, 0x52, 0x60, 0x71, 0x5e, 0x49, 0x5c, 0x62, 0x7d, 0x29, 0x36, 0x20, 0x7c, 0x7a,
        0x7f, 0x6b, 0x63, 0x33, 0x2b, 0x68, 0x51, 0x66, 0x76, 0x31, 0x64, 0x54, 0x43, 0x3c, 0x3a,
        0x3e, 0x7e, 0xff, 0x45, 0x2c, 0x2a, 0x74, 0x27, 0x37, 0x44, 0x79, 0x59, 0x2f, 0x6f, 0x26,
        0x72, 0x6a, 0x39, 0x7b, 0x3f, 0x38, 0x77, 0x67, 0x53, 0x47, 0x34, 0x78, 0x5d, 0x30, 0x23,
        0x5a, 0x5b, 0x6c, 0x48, 0x55, 0x70, 0x69, 0x2e, 0x4c, 0x21, 0x24, 0x4e, 0x50, 0x09, 0x56,
        0x73, 0x35, 0x61, 0x4b, 0x58, 0x3b, 0x57, 0x22, 0x6d, 0x4d, 0x25, 0x28, 0x46, 0x4a, 0x32,
        0x41, 0x3d, 0x5f, 0x4f, 0x42, 0x65,
    ],
];

/// The decoded byte of an encoded TAB, per table.
const TAB: [u8; 3] = [0x57, 0x7b, 0x6e];

/// The marker that starts a block.
pub(super) const START: &[u8; 4] = b"#@~^";

/// Bytes after the length that ClamAV drops once the length is reached (checksum, `==`,
/// `^#~@`).
const TRAILER: usize = 12;

/// The Script Encoder's substitution: the byte that the encoded byte `c` (below 0x80) decodes
/// to at position `pos` among the decoded bytes (0xff for `@`, which starts an escape). TAB and
/// 0x20–0x7f are substituted, other bytes decode as themselves (CR and LF are skipped before
/// this). Public so that tests and tools can encode scripts by inverting it.
pub fn decode_byte(pos: usize, c: u8) -> u8 {
    let t = usize::from(ORDER[pos % 64]);
    match c {
        b'\t' => TAB[t],
        0x20..=0x7f => TABLES[t][usize::from(c - 0x20)],
        _ => c,
    }
}

/// A byte's base64 value, or -1 (ClamAV's `base64_chars`).
fn b64(c: u8) -> i64 {
    match c {
        b'A'..=b'Z' => i64::from(c - b'A'),
        b'a'..=b'z' => i64::from(c - b'a') + 26,
        b'0'..=b'9' => i64::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => -1,
    }
}

/// The number written in the 6 base64 characters `f` (a length or a checksum), with ClamAV's
/// arithmetic: the base64 of a little-endian `u32`, where a character outside base64 counts as
/// 0 in some terms and as -1 (or its low bits) in others; the result wraps to 32 bits.
pub(super) fn field_value(f: &[u8; 6]) -> u32 {
    let [c0, c1, c2, c3, c4, c5] = f.map(b64);
    let pos = |v: i64| v.max(0);
    let v = (pos(c0) << 2)
        + (c1 >> 4)
        + ((c1 & 0x0f) << 12)
        + (pos(c2 >> 2) << 8)
        + ((c2 & 0x03) << 22)
        + (pos(c3) << 16)
        + ((pos(c4) << 2) << 24)
        + (pos(c5 >> 4) << 24);
    // Truncated to ClamAV's `uint32_t` (the terms are far below i64's range).
    v as u32
}

/// A block being decoded: what ClamAV keeps from chunk to chunk.
#[derive(Debug, Default, Clone)]
pub(super) struct Decoder {
    /// Encoded bytes still to decode (wrapping, as ClamAV's `uint32_t`).
    length: u32,
    /// Sum of the decoded bytes (ClamAV only logs whether it matches).
    sum: u32,
    /// Position among the decoded bytes, mod 64.
    pos: u8,
}

impl Decoder {
    /// A block whose header gave `length`.
    pub(super) fn new(length: u32) -> Decoder {
        Decoder {
            length,
            sum: 0,
            pos: 0,
        }
    }

    /// Whether the block is finished (its length reached).
    pub(super) fn done(&self) -> bool {
        self.length == 0
    }

    /// Decodes `buf[at..]` in place as ClamAV's `screnc_decode` does: up to the block's
    /// length or the end of the buffer. When the length is reached, the trailer is dropped (if
    /// the buffer holds 12 more bytes) and the rest of the buffer follows the decoded text;
    /// otherwise the buffer ends with the decoded text. Returns how many bytes it read.
    pub(super) fn decode(&mut self, buf: &mut Vec<u8>, at: usize) -> usize {
        // `w` (written) never passes `r` (read): each step writes at most what it reads.
        let (mut r, mut w) = (at, at);
        while self.length > 0 && r < buf.len() {
            let c = buf[r];
            if c == b'\n' || c == b'\r' {
                r += 1;
                continue;
            }
            if c < 0x80 {
                let mut v = decode_byte(usize::from(self.pos), c);
                if v == 0xff {
                    r += 1;
                    self.length = self.length.wrapping_sub(1);
                    match buf.get(r) {
                        // `@` ends the buffer: it stays 0xff (and counts twice).
                        None => r -= 1,
                        Some(b'!') => v = b'<',
                        Some(b'#') => v = b'\r',
                        Some(b'$') => v = b'@',
                        Some(b'&') => v = b'\n',
                        Some(b'*') => v = b'>',
                        Some(_) => {}
                    }
                }
                self.sum = self.sum.wrapping_add(u32::from(v));
                buf[w] = v;
                w += 1;
                self.pos = (self.pos + 1) % 64;
            } else {
                buf[w] = c;
                w += 1;
                r += 1;
                let Some(&trail) = buf.get(r) else {
                    // A lead byte ends the buffer: kept, not counted.
                    break;
                };
                buf[w] = trail;
                w += 1;
            }
            r += 1;
            self.length = self.length.wrapping_sub(1);
        }
        if self.length == 0 {
            if buf.len() - r >= TRAILER {
                r += TRAILER;
            }
            buf.drain(w..r);
        } else {
            buf.truncate(w);
        }
        r - at
    }
}

/// An encoder for the tests (the Script Encoder's transformation, by inverting
/// [`decode_byte`]).
#[cfg(test)]
pub(crate) mod testing {
    use super::{decode_byte, START};

    /// The Script Encoder's transformation (test side): for each table, the encoded byte of
    /// each plain byte, found by inverting [`decode_byte`].
    pub(crate) fn encode(plain: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        // Encoded bytes as the decoder counts them (a double-byte character once).
        let mut count = 0u32;
        let (mut pos, mut sum) = (0u8, 0u32);
        let mut i = 0;
        while i < plain.len() {
            let c = plain[i];
            if c >= 0x80 {
                // A double-byte character: copied, no position taken.
                body.extend_from_slice(&plain[i..(i + 2).min(plain.len())]);
                count += 1;
                i += 2;
                continue;
            }
            let esc = match c {
                b'\n' => Some(b'&'),
                b'\r' => Some(b'#'),
                b'<' => Some(b'!'),
                b'>' => Some(b'*'),
                b'@' => Some(b'$'),
                _ => None,
            };
            if let Some(e) = esc {
                body.extend_from_slice(&[b'@', e]);
            } else {
                let e = (0u8..0x80)
                    .filter(|&e| e != b'\n' && e != b'\r')
                    .find(|&e| decode_byte(usize::from(pos), e) == c)
                    .expect("every byte below 0x80 but @, CR, LF has an encoding");
                body.push(e);
            }
            count += if esc.is_some() { 2 } else { 1 };
            sum = sum.wrapping_add(u32::from(c));
            pos = (pos + 1) % 64;
            i += 1;
        }
        let mut out = START.to_vec();
        out.extend_from_slice(&field(count));
        out.extend_from_slice(&body);
        out.extend_from_slice(&field(sum));
        out.extend_from_slice(b"^#~@");
        out
    }

    /// A number as its header field: base64 of its 4 little-endian bytes (8 characters).
    pub(crate) fn field(n: u32) -> [u8; 8] {
        const B: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let [a, b, c, d] = n.to_le_bytes();
        let x = |v: u8| B[usize::from(v & 63)];
        [
            x(a >> 2),
            x((a << 4) | (b >> 4)),
            x((b << 2) | (c >> 6)),
            x(c),
            x(d >> 2),
            x(d << 4),
            b'=',
            b'=',
        ]
    }
}

/// Where [`decode_file`] is in the file.
enum FileState {
    /// Looking for the first block's marker.
    Search,
    /// Reading the 8 header bytes after it (`count` read so far, the first 6 kept).
    Header { count: usize, field: [u8; 6] },
    /// Decoding the block.
    Block(Decoder),
}

/// A file that is an encoded script (ClamAV's `CL_TYPE_SCRENC`, a `.jse` or `.vbe`: `#@~^` at
/// its start), decoded as ClamAV's `html_screnc_decode` writes it for the scan (its
/// `screnc.html`): `<script>`, then, read in the HTML normaliser's chunks, the first block's
/// decoded text followed by whatever its last chunk holds after it, then `</script>`. `None`
/// when the file holds no block or ends inside its header (ClamAV then scans nothing more).
/// The output is at most the input plus 17 bytes.
pub fn decode_file(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = b"<script>".to_vec();
    let mut state = FileState::Search;
    super::html::for_each_chunk(data, |chunk| {
        let mut at = 0;
        if let FileState::Search = state {
            match memchr::memmem::find(chunk, START) {
                Some(i) => {
                    at = i + START.len();
                    state = FileState::Header {
                        count: 0,
                        field: [0; 6],
                    };
                }
                None => return Ok(()),
            }
        }
        if let FileState::Header { count, field } = &mut state {
            while *count < 8 && at < chunk.len() {
                if let Some(f) = field.get_mut(*count) {
                    *f = chunk[at];
                }
                *count += 1;
                at += 1;
            }
            if *count < 8 {
                return Ok(());
            }
            state = FileState::Block(Decoder::new(field_value(field)));
        }
        if let FileState::Block(d) = &mut state {
            if d.done() {
                // A length of 0: ClamAV decodes and writes nothing.
                return Err(());
            }
            d.decode(chunk, at);
            out.extend_from_slice(chunk.get(at..).unwrap_or_default());
            if d.done() {
                return Err(());
            }
        }
        Ok(())
    });
    match state {
        FileState::Block(_) => {
            out.extend_from_slice(b"</script>");
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{encode, field};
    use super::*;

    /// Decodes a whole block in `buf` as the HTML normaliser does (header read, then the rest in
    /// one buffer). Returns the decoder after the header and decoding.
    fn decode_block(buf: &mut Vec<u8>) -> Decoder {
        assert!(buf.starts_with(START));
        let mut f = [0u8; 6];
        f.copy_from_slice(&buf[4..10]);
        let mut d = Decoder::new(field_value(&f));
        buf.drain(..12);
        d.decode(buf, 0);
        d
    }

    /// A whole encoded file decodes to `<script>` + its script + `</script>`; a file without a
    /// block, or cut inside its header, to nothing; a zero length to an empty script.
    #[test]
    fn encoded_files_decode_as_clamav_writes_them() {
        let plain = b"var a = 1; WScript.Echo('x');".repeat(400);
        let mut want = b"<script>".to_vec();
        want.extend_from_slice(&plain);
        want.extend_from_slice(b"</script>");
        assert_eq!(decode_file(&encode(&plain)).as_deref(), Some(&want[..]));
        assert_eq!(decode_file(b"plain text, no block"), None);
        assert_eq!(decode_file(b"#@~^AAA"), None);
        let mut zero = b"#@~^".to_vec();
        zero.extend_from_slice(&field(0));
        zero.extend_from_slice(b"abc");
        assert_eq!(
            decode_file(&zero).as_deref(),
            Some(&b"<script></script>"[..])
        );
    }

    #[test]
    fn field_reads_base64_of_le_u32() {
        for n in [0, 1, 46, 0x3f, 0x1234, 0xdead_beef, u32::MAX] {
            let f = field(n);
            let mut six = [0u8; 6];
            six.copy_from_slice(&f[..6]);
            assert_eq!(field_value(&six), n);
        }
        // ClamAV's arithmetic on characters outside base64: -1 and its low bits in some terms.
        assert_eq!(
            field_value(b"######"),
            (-1i64 + (15 << 12) + (3 << 22)) as u32
        );
        assert_eq!(field_value(b"A#AAAA"), (-1i64 + (15 << 12)) as u32);
    }

    #[test]
    fn round_trip() {
        let plains: &[&[u8]] = &[
            b"",
            b"alert(\"Hello <b>World</b>\");\r\nvar x = 1;",
            b"MsgBox \"Hi\"\r\nDim X\r\n",
            b"e-mail: a@b.c\ttab\x01\x1f\x7f ~`!#$%^&*()_+-={}[]|\\:;\"',./?",
            b"caf\xc3\xa9 \xc3\xa9t\xc3\xa9",
        ];
        for &p in plains {
            let mut long = p.to_vec();
            for _ in 0..5 {
                long.extend_from_slice(p);
            }
            for plain in [p.to_vec(), long] {
                let enc = encode(&plain);
                let mut buf = enc.clone();
                buf.extend_from_slice(b"</script>");
                let d = decode_block(&mut buf);
                assert!(d.done());
                let mut want = plain.clone();
                want.extend_from_slice(b"</script>");
                assert_eq!(buf, want, "{}", enc.escape_ascii());
                // The checksum is what the encoder wrote.
                let mut f = [0u8; 6];
                f.copy_from_slice(&enc[enc.len() - 12..enc.len() - 6]);
                assert_eq!(d.sum, field_value(&f));
            }
        }
    }

    #[test]
    fn escapes() {
        let enc = encode(b"<>@\r\n");
        assert_eq!(&enc[12..22], b"@!@*@$@#@&");
        let mut buf = enc;
        decode_block(&mut buf);
        assert_eq!(buf, b"<>@\r\n");
        // An unknown escape decodes as 0xff and takes one position.
        let mut buf = b"@xA".to_vec();
        let mut d = Decoder::new(3);
        d.decode(&mut buf, 0);
        assert_eq!(buf, [0xff, decode_byte(1, b'A')]);
        assert!(d.done());
        // `@` at the end of the buffer: 0xff, counted twice; the next byte is a new one.
        let mut buf = b"@".to_vec();
        let mut d = Decoder::new(5);
        d.decode(&mut buf, 0);
        assert_eq!(buf, [0xff]);
        assert_eq!((d.length, d.pos), (3, 1));
        // An escape as the last counted byte wraps the length: decoding goes on.
        let mut buf = b"@&AB".to_vec();
        let mut d = Decoder::new(1);
        d.decode(&mut buf, 0);
        assert_eq!(buf, [b'\n', decode_byte(1, b'A'), decode_byte(2, b'B')]);
        assert_eq!(d.length, u32::MAX - 2);
    }

    #[test]
    fn crlf_skipped_and_double_bytes_copied() {
        let mut buf = b"A\r\nB\xe4\x40C".to_vec();
        let mut d = Decoder::new(4);
        d.decode(&mut buf, 0);
        assert_eq!(
            buf,
            [
                decode_byte(0, b'A'),
                decode_byte(1, b'B'),
                0xe4,
                0x40,
                decode_byte(2, b'C')
            ]
        );
        assert!(d.done());
        // A lead byte at the end: kept, the length not counted down.
        let mut buf = b"A\xe4".to_vec();
        let mut d = Decoder::new(9);
        d.decode(&mut buf, 0);
        assert_eq!(buf, [decode_byte(0, b'A'), 0xe4]);
        assert_eq!(d.length, 8);
    }

    #[test]
    fn truncated_and_trailer() {
        // Longer than the buffer: all of it decoded, the decoder waits for more.
        let enc = encode(b"var a = 1;");
        let mut buf = enc[..16].to_vec();
        let d = decode_block(&mut buf);
        assert!(!d.done());
        assert_eq!(buf, b"var ");
        // Shorter: the 12 bytes after it are dropped, whatever they are, then the rest kept.
        let mut buf = enc[12..15].to_vec();
        buf.extend_from_slice(b"123456789012rest");
        let mut d = Decoder::new(3);
        d.decode(&mut buf, 0);
        assert!(d.done());
        assert_eq!(buf, b"varrest");
        // Fewer than 12 bytes after it: none dropped.
        let mut buf = enc[12..].to_vec();
        buf.truncate(5);
        let mut d = Decoder::new(3);
        d.decode(&mut buf, 0);
        assert_eq!(&buf[..3], b"var");
        assert_eq!(buf.len(), 5);
        // Decoding starts where asked; what comes before is left alone.
        let mut buf = b"keep".to_vec();
        buf.extend_from_slice(&enc[12..]);
        let mut d = Decoder::new(10);
        d.decode(&mut buf, 4);
        assert_eq!(buf, b"keepvar a = 1;");
    }
}
