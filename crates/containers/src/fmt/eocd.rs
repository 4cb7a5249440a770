//! A minimal reader of the ZIP end-of-central-directory records (ours, fuzzed): how many entries
//! an archive claims, read before the central directory is parsed so that a million-entry
//! archive is refused without allocating for it.

/// Entry count claimed by the archive whose last bytes are `tail` (the last 64 KiB + 98 bytes
/// of the file or all of it). `None` when no end record is found. The count is the larger of the
/// declared total and what the central directory's size can hold (46 bytes per entry at least).
pub fn claimed_entries(tail: &[u8]) -> Option<u64> {
    let pos = memchr::memmem::rfind(tail, b"PK\x05\x06")?;
    let e = tail.get(pos..pos + 22)?;
    let entries = u16::from_le_bytes([e[10], e[11]]) as u64;
    let cd_size = u32::from_le_bytes([e[12], e[13], e[14], e[15]]) as u64;
    let mut n = entries.max(cd_size / 46);
    if entries == 0xffff || cd_size == 0xffff_ffff {
        // A Zip64 end record: its locator sits just before the classic one.
        if let Some(loc) = pos.checked_sub(20).and_then(|p| tail.get(p..p + 20)) {
            if loc.starts_with(b"PK\x06\x07") {
                if let Some(rec_pos) = memchr::memmem::rfind(&tail[..pos], b"PK\x06\x06") {
                    if let Some(r) = tail.get(rec_pos..rec_pos + 56) {
                        let total = u64::from_le_bytes(r[32..40].try_into().ok()?);
                        let size = u64::from_le_bytes(r[40..48].try_into().ok()?);
                        n = n.max(total).max(size / 46);
                    }
                }
            }
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counts() {
        let mut e = b"PK\x05\x06".to_vec();
        e.extend_from_slice(&[0, 0, 0, 0, 3, 0, 3, 0]);
        e.extend_from_slice(&(46u32 * 3).to_le_bytes());
        e.extend_from_slice(&[0; 6]);
        assert_eq!(claimed_entries(&e), Some(3));
        assert_eq!(claimed_entries(b"nothing"), None);
        assert_eq!(claimed_entries(b"PK\x05\x06short"), None);
    }
}
