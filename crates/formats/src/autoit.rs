//! Files embedded in compiled AutoIt v3 executables ("AU3!EA05" and "AU3!EA06" formats).
//!
//! `Aut2Exe` appends the script, and every file pulled in by `FileInstall`, to a copy of
//! the AutoIt interpreter: either as an overlay after the PE image or as the `SCRIPT`
//! `RT_RCDATA` resource. Both layouts carry the same block, found here by searching the
//! whole file for its marker (no PE parsing is needed):
//!
//! ```text
//! 16-byte magic | "AU3!" | "EA05" or "EA06" | 16 bytes (password digest) | entries…
//! entry: "FILE" tag | subtype string | name string | compressed flag (1 byte)
//!        | stored size | uncompressed size | Adler-32 of the stored bytes
//!        | creation and last-write FILETIMEs (16 bytes) | stored bytes
//! ```
//!
//! Every field is obfuscated: 32-bit fields are XORed with per-field constants, strings and
//! data are XORed with a key stream seeded by a per-field constant (plus the string length
//! for strings). EA05 (AutoIt 3.2.0 to about 3.2.4) draws its key stream from a
//! Mersenne Twister (MT19937) and stores 8-bit strings; EA06 (later versions) uses a
//! RanRot-style generator and UTF-16LE strings. Stored data flagged as compressed uses
//! AutoIt's own LZSS variant (inner header "EA05"/"EA06" + big-endian size).
//!
//! Supported: EA05 and EA06 blocks, compressed or stored entries, scripts
//! (`>AUTOIT UNICODE SCRIPT<`, `>AUTOIT SCRIPT<`, `>>>AUTOIT SCRIPT<<<`) and `FileInstall`
//! files. The Adler-32 of every entry is verified.
//!
//! Not supported: the older AutoIt v3.0/v3.1 (`EA03`/`EA04`) and AutoIt v2 (`AU3!OLD`)
//! formats, and the `JB00`/`JB01` compression of some third-party compilers. The EA05
//! data key includes the digest after the marker (so passphrase-protected EA05 files are
//! read as well); EA06 data is decrypted with its fixed key, and an EA06 file that would
//! need another key is reported as a checksum error rather than as garbage. EA06 scripts come
//! out as AutoIt's tokenised byte code (not decompiled back to source text); EA05
//! Unicode scripts come out as raw UTF-16LE.
//!
//! The parser never panics, never allocates more than `max_out` bytes of output (stored
//! sizes are checked against the budget before any allocation, and the input is decrypted
//! as a stream rather than copied), and runs in time linear in the input size plus the
//! output size.

use memchr::memmem;

/// Why an AutoIt executable could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AutoItError {
    /// No "AU3!EA05"/"AU3!EA06" marker followed by a valid entry table.
    #[error("no AutoIt EA05/EA06 script block found")]
    NotAutoIt,
    /// The input ends in the middle of an entry.
    #[error("AutoIt entry {index} is truncated (its {field} runs past the end of the file)")]
    Truncated {
        /// Zero-based position of the entry in the table.
        index: usize,
        /// Which field was cut.
        field: &'static str,
    },
    /// The Adler-32 stored in an entry does not match its data.
    #[error("AutoIt entry {index} has a bad checksum (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// Zero-based position of the entry in the table.
        index: usize,
        /// The checksum the entry claims.
        stored: u32,
        /// The checksum of the data as read.
        computed: u32,
    },
    /// A compressed entry uses a compression this module does not know (e.g. `JB01`).
    #[error("AutoIt entry {index} uses an unsupported compression (magic {magic:02x?})")]
    UnsupportedCompression {
        /// Zero-based position of the entry in the table.
        index: usize,
        /// The first four bytes of the decrypted data.
        magic: [u8; 4],
    },
    /// The compressed stream of an entry is malformed.
    #[error("AutoIt entry {index} has corrupt compressed data: {reason}")]
    Corrupt {
        /// Zero-based position of the entry in the table.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Extracting would produce more than `max_out` bytes in total.
    #[error("AutoIt extraction exceeds the output limit of {limit} bytes")]
    OutputLimit {
        /// The `max_out` given to [`extract`].
        limit: usize,
    },
    /// The executable embeds more than `max_files` files.
    #[error("AutoIt executable embeds more than {limit} files")]
    TooManyFiles {
        /// The `max_files` given to [`extract`].
        limit: usize,
    },
}

/// One file embedded in the AutoIt executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// Its name as stored (e.g. `>AUTOIT UNICODE SCRIPT<` for the script, or the FileInstall source path).
    pub name: String,
    /// Its bytes, decrypted and decompressed.
    pub data: Vec<u8>,
}

/// Extracts every embedded file of the AutoIt-compiled executable `exe` (the whole file).
/// Stops with an error when the sum of extracted bytes would exceed `max_out`, or after `max_files` files.
///
/// Entries that carry no data (`>>>AUTOIT NO CMDEXECUTE<<<`) are skipped and not counted.
/// The block used is the first one in the file whose marker is followed by a valid entry
/// tag; the table ends at the first position that does not hold an entry tag.
pub fn extract(exe: &[u8], max_out: usize, max_files: usize) -> Result<Vec<Embedded>, AutoItError> {
    let ea05 = find_block(exe, Format::Ea05);
    let ea06 = find_block(exe, Format::Ea06);
    let (format, start) = match (ea05, ea06) {
        (Some(a), Some(b)) if b < a => (Format::Ea06, b),
        (Some(a), _) => (Format::Ea05, a),
        (None, Some(b)) => (Format::Ea06, b),
        (None, None) => return Err(AutoItError::NotAutoIt),
    };
    parse_table(exe, format, start, max_out, max_files)
}

/// Length of the marker ("AU3!EA0x").
const MARKER_LEN: usize = 8;
/// Length of the digest between the marker and the first entry.
const DIGEST_LEN: usize = 16;
/// Length of the two FILETIMEs of an entry.
const TIMES_LEN: usize = 16;
/// Subtype of the entries that carry no file.
const NO_CMDEXECUTE: &str = ">>>AUTOIT NO CMDEXECUTE<<<";

/// The two supported layouts and their obfuscation constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ea05,
    Ea06,
}

impl Format {
    fn marker(self) -> &'static [u8; MARKER_LEN] {
        match self {
            Format::Ea05 => b"AU3!EA05",
            Format::Ea06 => b"AU3!EA06",
        }
    }
    /// Key-stream seed of the "FILE" tag.
    fn tag_seed(self) -> u32 {
        match self {
            Format::Ea05 => 0x16FA,
            Format::Ea06 => 0x18EE,
        }
    }
    /// (length XOR, key-stream seed base) of the subtype string.
    fn subtype_keys(self) -> (u32, u32) {
        match self {
            Format::Ea05 => (0x29BC, 0xA25E),
            Format::Ea06 => (0xADBC, 0xB33F),
        }
    }
    /// (length XOR, key-stream seed base) of the name string.
    fn name_keys(self) -> (u32, u32) {
        match self {
            Format::Ea05 => (0x29AC, 0xF25E),
            Format::Ea06 => (0xF820, 0xF479),
        }
    }
    /// XOR of both size fields.
    fn size_key(self) -> u32 {
        match self {
            Format::Ea05 => 0x45AA,
            Format::Ea06 => 0x87BC,
        }
    }
    /// XOR of the checksum field.
    fn crc_key(self) -> u32 {
        match self {
            Format::Ea05 => 0xC3D2,
            Format::Ea06 => 0xA685,
        }
    }
    /// Key-stream seed of the data, from the 16-byte digest after the marker.
    fn data_seed(self, digest: &[u8]) -> u32 {
        match self {
            Format::Ea05 => digest
                .iter()
                .fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)))
                .wrapping_add(0x22AF),
            Format::Ea06 => 0x2477,
        }
    }
    /// Whether strings are UTF-16LE (lengths count 16-bit units).
    fn wide(self) -> bool {
        self == Format::Ea06
    }
    fn keystream(self, seed: u32) -> KeyStream {
        match self {
            Format::Ea05 => KeyStream::Mt(Box::new(Mt::new(seed))),
            Format::Ea06 => KeyStream::RanRot(RanRot::new(seed)),
        }
    }
    /// The "FILE" tag as it appears in the file.
    fn encrypted_tag(self) -> [u8; 4] {
        let mut tag = *b"FILE";
        self.keystream(self.tag_seed()).apply(&mut tag);
        tag
    }
}

/// Offset of the first entry of the first block of `format` in `exe`, if any.
fn find_block(exe: &[u8], format: Format) -> Option<usize> {
    let tag = format.encrypted_tag();
    memmem::find_iter(exe, format.marker()).find_map(|pos| {
        let table = pos.checked_add(MARKER_LEN + DIGEST_LEN)?;
        let end = table.checked_add(tag.len())?;
        (exe.get(table..end)? == tag).then_some(pos)
    })
}

/// A bounds-checked reader over one entry table.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        let bytes: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }
}

/// Reads every entry of the block whose marker is at `marker_pos`.
fn parse_table(
    exe: &[u8],
    format: Format,
    marker_pos: usize,
    max_out: usize,
    max_files: usize,
) -> Result<Vec<Embedded>, AutoItError> {
    let mut cur = Cursor {
        data: exe,
        pos: marker_pos,
    };
    // `find_block` checked that marker, digest and first tag are present.
    let digest = cur
        .take(MARKER_LEN)
        .and_then(|_| cur.take(DIGEST_LEN))
        .ok_or(AutoItError::NotAutoIt)?;
    let data_seed = format.data_seed(digest);
    let tag = format.encrypted_tag();
    let mut files = Vec::new();
    let mut total = 0usize;
    let mut index = 0usize;
    loop {
        let at_entry = exe
            .get(cur.pos..)
            .is_some_and(|rest| rest.starts_with(&tag));
        if !at_entry {
            break;
        }
        cur.pos = cur.pos.saturating_add(tag.len());
        let trunc = |field| AutoItError::Truncated { index, field };
        let subtype =
            read_string(&mut cur, format, format.subtype_keys()).ok_or(trunc("subtype"))?;
        // The second string (the script's path at compile time, or the FileInstall
        // destination) is not needed: skipped without decrypting it.
        skip_string(&mut cur, format, format.name_keys().0).ok_or(trunc("name"))?;
        let compressed = cur.u8().ok_or(trunc("compression flag"))?;
        let stored_len = cur.u32().ok_or(trunc("stored size"))? ^ format.size_key();
        let stored_len = usize::try_from(stored_len).map_err(|_| trunc("stored size"))?;
        if subtype == NO_CMDEXECUTE {
            // Flag byte read above; then 0x18 bytes of sizes, checksum and times, + data.
            let skip = stored_len.checked_add(0x18).ok_or(trunc("data"))?;
            cur.take(skip).ok_or(trunc("data"))?;
            index = index.saturating_add(1);
            continue;
        }
        let _advertised_len = cur.u32().ok_or(trunc("uncompressed size"))? ^ format.size_key();
        let stored_crc = cur.u32().ok_or(trunc("checksum"))? ^ format.crc_key();
        cur.take(TIMES_LEN).ok_or(trunc("file times"))?;
        let stored = cur.take(stored_len).ok_or(trunc("data"))?;
        if files.len() >= max_files {
            return Err(AutoItError::TooManyFiles { limit: max_files });
        }
        let computed = adler32(Decrypted::new(stored, format.keystream(data_seed)));
        if computed != stored_crc {
            return Err(AutoItError::Checksum {
                index,
                stored: stored_crc,
                computed,
            });
        }
        let budget = max_out.saturating_sub(total);
        let over = AutoItError::OutputLimit { limit: max_out };
        let data = if compressed == 1 {
            let mut src = Decrypted::new(stored, format.keystream(data_seed));
            lzss_decompress(&mut src, budget).map_err(|e| match e {
                LzssError::Budget => over,
                LzssError::Magic(magic) => AutoItError::UnsupportedCompression { index, magic },
                LzssError::Corrupt(reason) => AutoItError::Corrupt { index, reason },
            })?
        } else {
            if stored.len() > budget {
                return Err(over);
            }
            Decrypted::new(stored, format.keystream(data_seed)).collect()
        };
        total = total.saturating_add(data.len());
        files.push(Embedded {
            name: subtype,
            data,
        });
        index = index.saturating_add(1);
    }
    Ok(files)
}

/// Byte length of a string of `units` characters.
fn string_bytes(format: Format, units: u32) -> Option<usize> {
    let units = usize::try_from(units).ok()?;
    if format.wide() {
        units.checked_mul(2)
    } else {
        Some(units)
    }
}

/// Skips one obfuscated string whose length is XORed with `len_key`.
fn skip_string(cur: &mut Cursor<'_>, format: Format, len_key: u32) -> Option<()> {
    let len = cur.u32()? ^ len_key;
    cur.take(string_bytes(format, len)?).map(|_| ())
}

/// Reads one obfuscated string: a 32-bit length XOR `keys.0`, then the characters XORed
/// with the key stream seeded by `length + keys.1`.
fn read_string(cur: &mut Cursor<'_>, format: Format, keys: (u32, u32)) -> Option<String> {
    let len = cur.u32()? ^ keys.0;
    let seed = len.wrapping_add(keys.1);
    let raw = cur.take(string_bytes(format, len)?)?;
    let mut plain = raw.to_vec();
    format.keystream(seed).apply(&mut plain);
    Some(if format.wide() {
        let wide: Vec<u16> = plain
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&wide)
    } else {
        match String::from_utf8(plain) {
            Ok(s) => s,
            // ANSI code page: keep every byte as the code point of the same value.
            Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
        }
    })
}

/// A byte key stream.
enum KeyStream {
    Mt(Box<Mt>),
    RanRot(RanRot),
}

impl KeyStream {
    fn next_byte(&mut self) -> u8 {
        match self {
            // The tempered 32-bit output, shifted right by one: its bits 1..=8.
            KeyStream::Mt(mt) => (mt.next_u32() >> 1) as u8,
            KeyStream::RanRot(r) => r.next_byte(),
        }
    }
    fn apply(&mut self, data: &mut [u8]) {
        for b in data {
            *b ^= self.next_byte();
        }
    }
}

/// The MT19937 Mersenne Twister (Matsumoto and Nishimura), as seeded by `init_genrand`.
struct Mt {
    state: [u32; 624],
    index: usize,
}

impl Mt {
    const N: usize = 624;
    const M: usize = 397;

    fn new(seed: u32) -> Self {
        let mut state = [0u32; Self::N];
        let mut prev = seed;
        for (i, slot) in state.iter_mut().enumerate() {
            if i > 0 {
                prev = 0x6C07_8965u32
                    .wrapping_mul(prev ^ (prev >> 30))
                    .wrapping_add(i as u32);
            }
            *slot = prev;
        }
        Mt {
            state,
            index: Self::N,
        }
    }

    fn twist(&mut self) {
        for i in 0..Self::N {
            let next = (i + 1) % Self::N;
            let far = (i + Self::M) % Self::N;
            let y = (self.state[i] & 0x8000_0000) | (self.state[next] & 0x7FFF_FFFF);
            let mut v = self.state[far] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_B0DF;
            }
            self.state[i] = v;
        }
        self.index = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= Self::N {
            self.twist();
        }
        let mut y = self.state.get(self.index).copied().unwrap_or(0);
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^ (y >> 18)
    }
}

/// The RanRot-style generator of EA06: a lagged Fibonacci generator over rotations.
struct RanRot {
    state: [u32; 17],
    p1: usize,
    p2: usize,
}

impl RanRot {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 17];
        let mut s = seed;
        for slot in state.iter_mut() {
            s = 1u32.wrapping_sub(s.wrapping_mul(0x53A9_B4FB));
            *slot = s;
        }
        let mut r = RanRot {
            state,
            p1: 0,
            p2: 10,
        };
        for _ in 0..9 {
            r.step();
        }
        r
    }

    fn step(&mut self) -> u32 {
        let a = self.state.get(self.p1).copied().unwrap_or(0);
        let b = self.state.get(self.p2).copied().unwrap_or(0);
        let x = a.rotate_left(9).wrapping_add(b.rotate_left(13));
        if let Some(slot) = self.state.get_mut(self.p1) {
            *slot = x;
        }
        self.p1 = if self.p1 == 0 { 16 } else { self.p1 - 1 };
        self.p2 = if self.p2 == 0 { 16 } else { self.p2 - 1 };
        x
    }

    /// AutoIt draws two numbers per byte and keeps the top 8 bits of the second
    /// (it builds a double in [0, 1) from the 32 bits and multiplies it by 256).
    fn next_byte(&mut self) -> u8 {
        self.step();
        (self.step() >> 24) as u8
    }
}

/// The bytes of `data` XORed with a key stream, one at a time (no copy of the input).
struct Decrypted<'a> {
    data: std::slice::Iter<'a, u8>,
    key: KeyStream,
}

impl<'a> Decrypted<'a> {
    fn new(data: &'a [u8], key: KeyStream) -> Self {
        Decrypted {
            data: data.iter(),
            key,
        }
    }
}

impl Iterator for Decrypted<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        let b = self.data.next()?;
        Some(b ^ self.key.next_byte())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.data.size_hint()
    }
}

/// Adler-32 (RFC 1950) of a byte stream.
fn adler32(bytes: impl Iterator<Item = u8>) -> u32 {
    const MOD: u32 = 65521;
    // Largest n such that 255n(n+1)/2 + (n+1)(MOD-1) fits in u32.
    const NMAX: usize = 5552;
    let (mut a, mut b) = (1u32, 0u32);
    let mut pending = 0usize;
    for byte in bytes {
        a += u32::from(byte);
        b += a;
        pending += 1;
        if pending == NMAX {
            a %= MOD;
            b %= MOD;
            pending = 0;
        }
    }
    ((b % MOD) << 16) | (a % MOD)
}

/// Why the LZSS decoder stopped.
#[derive(Debug, PartialEq, Eq)]
enum LzssError {
    /// The declared size is over the output budget.
    Budget,
    /// The stream does not start with "EA05" or "EA06".
    Magic([u8; 4]),
    /// The stream is malformed.
    Corrupt(&'static str),
}

/// Most-significant-bit-first reader over a byte stream.
struct Bits<I> {
    bytes: I,
    acc: u32,
    count: u32,
}

impl<I: Iterator<Item = u8>> Bits<I> {
    /// The next `n` (at most 16) bits, first bit most significant; `None` at the end.
    fn get(&mut self, n: u32) -> Option<u32> {
        while self.count < n {
            self.acc = (self.acc << 8) | u32::from(self.bytes.next()?);
            self.count += 8;
        }
        self.count -= n;
        let v = (self.acc >> self.count) & ((1u32 << n) - 1);
        self.acc &= (1u32 << self.count) - 1;
        Some(v)
    }
}

/// Decodes AutoIt's LZSS: "EA05"/"EA06", a big-endian 32-bit size, then a bit stream of
/// literals (flag bit then 8 bits) and matches (the other flag value, a 15-bit distance and
/// a variable-length count). The flag value meaning "literal" is 0 in EA05, 1 in EA06.
fn lzss_decompress(
    src: &mut impl Iterator<Item = u8>,
    budget: usize,
) -> Result<Vec<u8>, LzssError> {
    const SHORT: LzssError = LzssError::Corrupt("compressed stream ends early");
    let mut magic = [0u8; 4];
    for slot in magic.iter_mut() {
        *slot = src.next().ok_or(SHORT)?;
    }
    let literal_flag = match &magic {
        b"EA05" => 0,
        b"EA06" => 1,
        _ => return Err(LzssError::Magic(magic)),
    };
    let mut size = [0u8; 4];
    for slot in size.iter_mut() {
        *slot = src.next().ok_or(SHORT)?;
    }
    let size = usize::try_from(u32::from_be_bytes(size)).map_err(|_| LzssError::Budget)?;
    if size > budget {
        return Err(LzssError::Budget);
    }
    let mut out = Vec::with_capacity(size.min(1 << 20));
    let mut bits = Bits {
        bytes: src,
        acc: 0,
        count: 0,
    };
    while out.len() < size {
        if bits.get(1).ok_or(SHORT)? == literal_flag {
            out.push(bits.get(8).ok_or(SHORT)? as u8);
            continue;
        }
        let distance = bits.get(15).ok_or(SHORT)? as usize;
        let len = match_length(&mut bits).ok_or(SHORT)?;
        if distance == 0 || distance > out.len() {
            return Err(LzssError::Corrupt(
                "match reaches before the start of the output",
            ));
        }
        let count = len.min(size - out.len());
        for _ in 0..count {
            let from = out.len() - distance;
            let b = out
                .get(from)
                .copied()
                .ok_or(LzssError::Corrupt("bad match"))?;
            out.push(b);
        }
    }
    Ok(out)
}

/// The length of a match: 2 bits, extended by 3, 5, 8 bits and then runs of 8 bits when
/// each field is all ones; the minimum is 3.
fn match_length<I: Iterator<Item = u8>>(bits: &mut Bits<I>) -> Option<usize> {
    let mut base = 3usize;
    let mut v = bits.get(2)?;
    if v == 3 {
        base += 3;
        v = bits.get(3)?;
        if v == 7 {
            base += 7;
            v = bits.get(5)?;
            if v == 31 {
                base += 31;
                v = bits.get(8)?;
                if v == 255 {
                    base += 255;
                    // Every further 0xFF byte adds 255; this consumes input, so it ends.
                    loop {
                        v = bits.get(8)?;
                        if v != 255 {
                            break;
                        }
                        base = base.saturating_add(255);
                    }
                }
            }
        }
    }
    Some(base.saturating_add(v as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::le::testfile as load;

    fn check_sample(name: &str) {
        let (Some(exe), Some(clam)) = (load(name), load("clam.exe")) else {
            return;
        };
        let files = extract(&exe, 1 << 24, 100).expect("extract");
        for f in &files {
            eprintln!("{name}: {:?} {} bytes", f.name, f.data.len());
        }
        assert!(files.len() >= 2, "{name}: {files:?}");
        let hit = files
            .iter()
            .find(|f| f.data == clam)
            .expect("clam.exe extracted");
        assert!(hit.name.ends_with("clam.exe"), "{}", hit.name);
    }

    #[test]
    fn ea05_yields_clam_exe() {
        check_sample("clam.ea05.exe");
    }

    #[test]
    fn ea06_yields_clam_exe() {
        check_sample("clam.ea06.exe");
    }

    #[test]
    fn ea05_script_entry() {
        let Some(exe) = load("clam.ea05.exe") else {
            return;
        };
        let files = extract(&exe, 1 << 24, 100).unwrap();
        let script = &files[0];
        assert_eq!(script.name, ">AUTOIT UNICODE SCRIPT<");
        assert_eq!(script.data.len(), 0x57e6);
        assert_eq!(files[1].name, "C:\\clam.exe");
    }

    #[test]
    fn mt19937_reference_vector() {
        // First outputs of the reference implementation seeded with init_genrand(5489).
        let mut mt = Mt::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        assert_eq!(mt.next_u32(), 581_869_302);
        assert_eq!(mt.next_u32(), 3_890_346_734);
    }

    #[test]
    fn tag_key_streams() {
        // "FILE" XOR the tag bytes found after the markers of the two sample files.
        let mut mt = Format::Ea05.keystream(0x16FA);
        let k: Vec<u8> = (0..4).map(|_| mt.next_byte()).collect();
        assert_eq!(k, [0xb9, 0x24, 0xfc, 0x8b]);
        let mut rr = Format::Ea06.keystream(0x18EE);
        let k: Vec<u8> = (0..4).map(|_| rr.next_byte()).collect();
        assert_eq!(k, [0x2d, 0x0a, 0x86, 0x17]);
    }

    #[test]
    fn adler32_reference_vector() {
        assert_eq!(adler32(b"Wikipedia".iter().copied()), 0x11E6_0398);
        assert_eq!(adler32(std::iter::empty()), 1);
        let big = vec![0xFFu8; 100_000];
        // Computed naively with 64-bit sums.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(big.iter().copied()), ((b << 16) | a) as u32);
    }

    /// MSB-first bit writer for building LZSS streams by hand.
    struct Writer {
        bytes: Vec<u8>,
        nbits: usize,
    }

    impl Writer {
        fn new(magic: &[u8; 4], size: u32) -> Self {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&size.to_be_bytes());
            Writer {
                nbits: bytes.len() * 8,
                bytes,
            }
        }
        fn put(&mut self, value: u32, n: u32) {
            for i in (0..n).rev() {
                if self.nbits & 7 == 0 {
                    self.bytes.push(0);
                }
                if (value >> i) & 1 == 1 {
                    *self.bytes.last_mut().unwrap() |= 0x80 >> (self.nbits % 8);
                }
                self.nbits += 1;
            }
        }
    }

    #[test]
    fn lzss_small_vectors() {
        // EA06: literal 'a', literal 'b', match distance 2 length 3+2=5, literal 'c'.
        let mut w = Writer::new(b"EA06", 8);
        w.put(1, 1);
        w.put(u32::from(b'a'), 8);
        w.put(1, 1);
        w.put(u32::from(b'b'), 8);
        w.put(0, 1);
        w.put(2, 15);
        w.put(2, 2);
        w.put(1, 1);
        w.put(u32::from(b'c'), 8);
        let out = lzss_decompress(&mut w.bytes.iter().copied(), 100).unwrap();
        assert_eq!(out, b"abababac");

        // EA05 (flags inverted): 'x', then distance 1, length 3+3+7+31+255+255+4 = 558.
        let mut w = Writer::new(b"EA05", 559);
        w.put(0, 1);
        w.put(u32::from(b'x'), 8);
        w.put(1, 1);
        w.put(1, 15);
        w.put(3, 2);
        w.put(7, 3);
        w.put(31, 5);
        w.put(255, 8);
        w.put(255, 8);
        w.put(4, 8);
        let out = lzss_decompress(&mut w.bytes.iter().copied(), 1000).unwrap();
        assert_eq!(out, vec![b'x'; 559]);
        // Over budget, bad magic, truncated, match before the start.
        assert_eq!(
            lzss_decompress(&mut w.bytes.iter().copied(), 558),
            Err(LzssError::Budget)
        );
        assert_eq!(
            lzss_decompress(&mut b"JB01\0\0\0\x01".iter().copied(), 10),
            Err(LzssError::Magic(*b"JB01"))
        );
        let cut = &w.bytes[..w.bytes.len() - 2];
        assert!(matches!(
            lzss_decompress(&mut cut.iter().copied(), 1000),
            Err(LzssError::Corrupt(_))
        ));
        let mut w = Writer::new(b"EA06", 4);
        w.put(0, 1);
        w.put(1, 15);
        w.put(0, 2);
        assert!(matches!(
            lzss_decompress(&mut w.bytes.iter().copied(), 1000),
            Err(LzssError::Corrupt(_))
        ));
    }

    /// Small deterministic generator for the hostile-input tests.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn assert_within(exe: &[u8], max_out: usize, max_files: usize) {
        if let Ok(files) = extract(exe, max_out, max_files) {
            assert!(files.len() <= max_files);
            assert!(files.iter().map(|f| f.data.len()).sum::<usize>() <= max_out);
        }
    }

    /// The sample's block, starting 16 bytes before its marker, to keep the tests fast.
    fn block(name: &str) -> Option<Vec<u8>> {
        let exe = load(name)?;
        let marker: &[u8] = if name.contains("ea05") {
            b"AU3!EA05"
        } else {
            b"AU3!EA06"
        };
        let pos = memmem::find(&exe, marker)?;
        Some(exe[pos - 16..].to_vec())
    }

    #[test]
    fn hostile_truncations_and_limits() {
        for name in ["clam.ea05.exe", "clam.ea06.exe"] {
            let Some(blk) = block(name) else {
                continue;
            };
            let full = extract(&blk, usize::MAX, usize::MAX).unwrap();
            let total: usize = full.iter().map(|f| f.data.len()).sum();
            assert!(full.len() >= 2);
            // Truncations: every length near the start, then a stride.
            let lens = (0..600).chain((600..blk.len()).step_by(97));
            for len in lens {
                assert_within(&blk[..len], usize::MAX, usize::MAX);
            }
            // Limits.
            assert!(matches!(
                extract(&blk, total - 1, 100),
                Err(AutoItError::OutputLimit { .. })
            ));
            assert!(extract(&blk, total, 100).is_ok());
            assert!(matches!(
                extract(&blk, 0, 100),
                Err(AutoItError::OutputLimit { .. })
            ));
            assert!(matches!(
                extract(&blk, usize::MAX, full.len() - 1),
                Err(AutoItError::TooManyFiles { .. })
            ));
            assert!(matches!(
                extract(&blk, usize::MAX, 0),
                Err(AutoItError::TooManyFiles { .. })
            ));
            assert_eq!(extract(&blk, usize::MAX, full.len()).unwrap(), full);
        }
    }

    #[test]
    fn hostile_corruptions() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for name in ["clam.ea05.exe", "clam.ea06.exe"] {
            let Some(blk) = block(name) else {
                continue;
            };
            // Header region: every third byte flipped in turn (lengths, sizes, flags, tags).
            for i in (16..200.min(blk.len())).step_by(3) {
                let mut bad = blk.clone();
                bad[i] ^= 0xFF;
                assert_within(&bad, 1 << 20, 10);
            }
            // Random bytes anywhere.
            for _ in 0..30 {
                let mut bad = blk.clone();
                for _ in 0..4 {
                    let i = (rng.next() as usize) % bad.len();
                    bad[i] = rng.next() as u8;
                }
                assert_within(&bad, 1 << 20, 10);
            }
        }
    }

    #[test]
    fn random_and_degenerate_inputs() {
        let mut rng = XorShift(42);
        assert!(matches!(extract(b"", 10, 10), Err(AutoItError::NotAutoIt)));
        assert!(matches!(
            extract(b"AU3!EA05", 10, 10),
            Err(AutoItError::NotAutoIt)
        ));
        for len in [1usize, 7, 8, 31, 64, 1000, 5000] {
            let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert_within(&data, 1 << 16, 4);
            // Random bytes right after a marker + valid tag: exercises the entry parser.
            for format in [Format::Ea05, Format::Ea06] {
                let mut forged = format.marker().to_vec();
                forged.extend_from_slice(&[0u8; DIGEST_LEN]);
                forged.extend_from_slice(&format.encrypted_tag());
                forged.append(&mut data.clone());
                assert_within(&forged, 1 << 16, 4);
            }
            data.clear();
        }
        // Many markers with valid tags but nothing after them.
        let mut many = Vec::new();
        for _ in 0..1000 {
            many.extend_from_slice(b"AU3!EA06");
            many.extend_from_slice(&[0u8; DIGEST_LEN]);
            many.extend_from_slice(&Format::Ea06.encrypted_tag());
        }
        assert_within(&many, 1 << 16, 4);
    }

    #[test]
    fn forged_entry_with_huge_sizes() {
        // A stored (uncompressed) entry claiming 4 GiB: truncated, no allocation.
        for format in [Format::Ea05, Format::Ea06] {
            let mut exe = format.marker().to_vec();
            exe.extend_from_slice(&[0u8; DIGEST_LEN]);
            exe.extend_from_slice(&format.encrypted_tag());
            // Zero-length subtype and name.
            exe.extend_from_slice(&format.subtype_keys().0.to_le_bytes());
            exe.extend_from_slice(&format.name_keys().0.to_le_bytes());
            exe.push(0);
            exe.extend_from_slice(&(0xFFFF_FFFFu32 ^ format.size_key()).to_le_bytes());
            exe.extend_from_slice(&[0u8; 8 + TIMES_LEN]);
            assert!(matches!(
                extract(&exe, usize::MAX, 10),
                Err(AutoItError::Truncated { field: "data", .. })
            ));
        }
    }
}
