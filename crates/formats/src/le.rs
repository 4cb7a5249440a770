//! Little-endian fields at untrusted offsets: `None` instead of a panic when they run past the
//! end (shared by the parsers we write).

/// The `u16` at `d[o..o + 2]`.
pub fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    let b = d.get(o..o.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// The `u32` at `d[o..o + 4]`.
pub fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    let b = d.get(o..o.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `u64` at `d[o..o + 8]`.
pub fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    let b = d.get(o..o.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// A file of Debian's clamav-testfiles (GPL test data, read in place, never copied), or
/// `None` with a message when the package is not installed.
#[cfg(test)]
pub fn testfile(name: &str) -> Option<Vec<u8>> {
    const DIR: &str = "/usr/share/clamav-testfiles";
    match std::fs::read(format!("{DIR}/{name}")) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: {DIR}/{name}: {e} (apt-get install clamav-testfiles)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_in_and_out_of_bounds() {
        let d = [1, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(super::u16_at(&d, 0), Some(1));
        assert_eq!(super::u32_at(&d, 2), Some(2));
        assert_eq!(super::u64_at(&d, 2), Some(2));
        assert_eq!(super::u64_at(&d, 3), None);
        assert_eq!(super::u16_at(&d, usize::MAX), None);
    }
}
