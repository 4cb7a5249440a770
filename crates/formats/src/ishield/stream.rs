//! Layout A: `InstallShield\0` streams (InstallShield "MSI" setups), see the parent module.

use super::*;

pub(super) const STREAM_TAG: &[u8] = b"InstallShield\0";
/// Where the first entry starts, from the tag.
pub(super) const STREAM_FIRST: usize = 0x2e;
/// Length of an entry's name field.
pub(super) const ENTRY_NAME: usize = 0x104;
/// Where an entry's compressed size is, from the entry.
pub(super) const ENTRY_CSIZE: usize = 0x10c;
/// Where an entry's data starts, from the entry.
pub(super) const ENTRY_DATA: usize = 0x138;
/// What the file name is XORed with to make the key.
pub(super) const NAME_KEY: [u8; 4] = [0x13, 0x35, 0x86, 0x07];

/// Extracts every `InstallShield\0` stream in `exe`.
pub(super) fn streams(exe: &[u8], sink: &mut Sink) -> Result<(), IShieldError> {
    for pos in memchr::memmem::find_iter(exe, STREAM_TAG).take(MAX_HITS) {
        stream(exe, pos, sink)?;
    }
    Ok(())
}

/// Extracts the stream whose tag is at `exe[pos]`.
pub(super) fn stream(exe: &[u8], pos: usize, sink: &mut Sink) -> Result<(), IShieldError> {
    let Some(count) = pos
        .checked_add(STREAM_TAG.len())
        .and_then(|o| u16_at(exe, o))
    else {
        return Ok(());
    };
    let Some(mut entry) = pos.checked_add(STREAM_FIRST) else {
        return Ok(());
    };
    let mut z = Decompress::new(true);
    for i in 0..count {
        let Some((name, csize)) = entry_head(exe, entry) else {
            if i > 0 {
                sink.corrupt = Some("truncated InstallShield stream entry");
            }
            return Ok(());
        };
        let data_at = entry + ENTRY_DATA; // entry_head checked that this is in bounds
        let Some(raw) = slice_at(exe, data_at as u64, csize) else {
            if i > 0 {
                sink.corrupt = Some("InstallShield stream entry larger than the file");
            }
            return Ok(());
        };
        // A first entry whose data does not decode to a zlib header means the tag was a stray
        // string, not a stream. From here on the stream is recognised.
        if i == 0 && !zlib_header(&decode_stream_data(raw.get(..2).unwrap_or(raw), name)) {
            return Ok(());
        }
        sink.check_count()?;
        if !sink.spend(raw.len()) {
            return Ok(());
        }
        let decoded = decode_stream_data(raw, name);
        let mut data = Vec::new();
        match inflate_into(&mut z, &decoded, true, &mut data, sink.remaining()) {
            Ok(_) => {
                let name = clean_name(&String::from_utf8_lossy(name));
                sink.push(name, data)?;
            }
            Err(InflateError::OverCap) => {
                return Err(IShieldError::TooLarge {
                    limit: sink.max_out,
                })
            }
            Err(InflateError::Bad) => {
                sink.waste(data.len());
                sink.corrupt = Some("bad compressed data in stream entry");
            }
        }
        entry = data_at + raw.len();
    }
    Ok(())
}

/// The name and compressed size of the stream entry at `exe[entry]`, when it looks like one:
/// a printable, NUL-terminated name and the whole fixed part present.
pub(super) fn entry_head(exe: &[u8], entry: usize) -> Option<(&[u8], u64)> {
    let fixed = exe.get(entry..entry.checked_add(ENTRY_DATA)?)?;
    let field = fixed.get(..ENTRY_NAME)?;
    let len = memchr::memchr(0, field)?;
    let name = field.get(..len)?;
    if name.is_empty() || name.iter().any(|&b| b < 0x20) {
        return None;
    }
    let csize = u64_at(fixed, ENTRY_CSIZE)?;
    Some((name, csize))
}

/// Whether `d` starts with a zlib header (deflate, valid check bits).
pub(super) fn zlib_header(d: &[u8]) -> bool {
    match d {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Undoes the obfuscation of stream entry data, keyed by the entry's file name.
pub(super) fn decode_stream_data(raw: &[u8], name: &[u8]) -> Vec<u8> {
    let key: Vec<u8> = name
        .iter()
        .zip(NAME_KEY.iter().cycle())
        .map(|(n, k)| n ^ k)
        .collect();
    raw.iter()
        .enumerate()
        .map(|(j, &b)| {
            let k = key.get((j % 1024) % key.len().max(1)).copied().unwrap_or(0);
            !(b.rotate_left(4) ^ k)
        })
        .collect()
}
