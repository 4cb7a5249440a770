//! SZDD files (ours, fuzzed): what Microsoft's `compress.exe` writes (`SETUP.EX_`, `*.DL_`) —
//! a 14-byte header and LZSS data with a 4 KiB window. No crate decodes it; the algorithm is a
//! dozen lines. (KWAJ, the later variant with other methods, is not supported.)

/// The SZDD magic.
pub const MAGIC: &[u8; 8] = b"SZDD\x88\xf0\x27\x33";
/// Header length: magic, method `A`, the missing last character of the name, u32 size.
const HEADER: usize = 14;
/// The LZSS window.
const WINDOW: usize = 4096;

/// Why an SZDD stream could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SzddError {
    /// Not an SZDD header (magic or method).
    #[error("not an SZDD file")]
    NotSzdd,
    /// The output would pass the caller's cap.
    #[error("SZDD output larger than {0} bytes")]
    TooLarge(u64),
}

/// Decodes the SZDD file `data`, handing the output to `out` in pieces of at most 64 KiB.
/// Stops at the size the header declares, at the end of the input, or with an error past
/// `max_out` bytes. Returns the bytes written and whether the input ended early (truncated).
pub fn decode<E>(
    data: &[u8],
    max_out: u64,
    mut out: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Result<(u64, bool), SzddError>, E> {
    if data.len() < HEADER || &data[..8] != MAGIC || data[8] != b'A' {
        return Ok(Err(SzddError::NotSzdd));
    }
    let declared = u32::from_le_bytes([data[10], data[11], data[12], data[13]]) as u64;
    let mut win = [b' '; WINDOW];
    let mut pos = WINDOW - 16;
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut written = 0u64;
    let mut input = data[HEADER..].iter().copied();
    let mut truncated = false;
    'outer: while written + (buf.len() as u64) < declared {
        let Some(flags) = input.next() else {
            truncated = true;
            break;
        };
        for bit in 0..8 {
            if written + (buf.len() as u64) >= declared {
                break 'outer;
            }
            if flags & (1 << bit) != 0 {
                let Some(c) = input.next() else {
                    truncated = true;
                    break 'outer;
                };
                buf.push(c);
                win[pos] = c;
                pos = (pos + 1) % WINDOW;
            } else {
                let (Some(a), Some(b)) = (input.next(), input.next()) else {
                    truncated = true;
                    break 'outer;
                };
                let mut from = (a as usize) | (((b as usize) & 0xf0) << 4);
                let len = (b as usize & 0x0f) + 3;
                for _ in 0..len {
                    let c = win[from];
                    buf.push(c);
                    win[pos] = c;
                    pos = (pos + 1) % WINDOW;
                    from = (from + 1) % WINDOW;
                }
            }
            if buf.len() >= 64 << 10 {
                if written + buf.len() as u64 > max_out {
                    return Ok(Err(SzddError::TooLarge(max_out)));
                }
                out(&buf)?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
    }
    // A match may run past the declared size: the header is the truth.
    let keep = (declared.saturating_sub(written)).min(buf.len() as u64) as usize;
    buf.truncate(keep);
    if written + buf.len() as u64 > max_out {
        return Ok(Err(SzddError::TooLarge(max_out)));
    }
    out(&buf)?;
    written += buf.len() as u64;
    Ok(Ok((written, truncated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8], max: u64) -> Result<(Vec<u8>, bool), SzddError> {
        let mut out = Vec::new();
        let r = decode::<()>(data, max, |c| {
            out.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        r.map(|(n, t)| {
            assert_eq!(n as usize, out.len());
            (out, t)
        })
    }

    fn header(size: u32) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.extend_from_slice(b"A_");
        h.extend_from_slice(&size.to_le_bytes());
        h
    }

    #[test]
    fn literals_and_a_match() {
        // "abcabcabc": 3 literals, then a match of 6 from the window position of 'a' (4080).
        let mut d = header(9);
        d.push(0b0000_0111);
        d.extend_from_slice(b"abc");
        let from = WINDOW - 16;
        d.push((from & 0xff) as u8);
        d.push((((from >> 4) & 0xf0) as u8) | (6 - 3));
        assert_eq!(run(&d, 100), Ok((b"abcabcabc".to_vec(), false)));
    }

    #[test]
    fn window_starts_as_spaces_and_size_is_the_header_s() {
        // A match into the untouched window gives spaces; the header cuts the output at 5.
        let mut d = header(5);
        d.push(0);
        d.extend_from_slice(&[0x00, 0x0f]); // position 0, length 18
        assert_eq!(run(&d, 100), Ok((b"     ".to_vec(), false)));
    }

    #[test]
    fn hostile_inputs() {
        assert_eq!(run(b"SZDD", 10), Err(SzddError::NotSzdd));
        let mut d = header(u32::MAX);
        d.push(0);
        d.extend_from_slice(&[0x00, 0x0f]);
        // Truncated: what decoded is kept, and it says so.
        let (out, truncated) = run(&d, 1 << 20).unwrap();
        assert_eq!(out.len(), 18);
        assert!(truncated);
        // Past the cap: an error, never more output.
        let mut d = header(u32::MAX);
        for _ in 0..20_000 {
            d.push(0);
            d.extend_from_slice(&[0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff]);
            d.extend_from_slice(&[0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff]);
        }
        assert_eq!(run(&d, 100_000), Err(SzddError::TooLarge(100_000)));
    }
}
