// Building PE test data, one copy for the engine's unit tests (`src/pe.rs`, through
// `include!`) and its integration tests (`tests/differential.rs`, through `#[path]`).

/// A `VS_VERSION_INFO` resource tree (root at RVA `rva`) holding `pairs` in one string
/// table, laid out as Windows resource compilers do.
pub fn version_resource(pairs: &[(&str, &str)], rva: u32) -> Vec<u8> {
    fn utf16z(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        v.extend_from_slice(&[0, 0]);
        v
    }
    fn pad4(v: &mut Vec<u8>) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
    }
    fn node(key: &str, value: &[u8], vtype: u16, vlen: u16, children: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 6];
        b.extend(utf16z(key));
        pad4(&mut b);
        if !value.is_empty() {
            b.extend_from_slice(value);
            pad4(&mut b);
        }
        b.extend_from_slice(children);
        let l = b.len() as u16;
        b[0..2].copy_from_slice(&l.to_le_bytes());
        b[2..4].copy_from_slice(&vlen.to_le_bytes());
        b[4..6].copy_from_slice(&vtype.to_le_bytes());
        b
    }
    let mut strings = Vec::new();
    for (k, v) in pairs {
        let val = utf16z(v);
        let mut n = node(k, &val, 1, (val.len() / 2) as u16, &[]);
        pad4(&mut n);
        strings.extend(n);
    }
    let mut st = node("040904b0", &[], 1, 0, &strings);
    pad4(&mut st);
    let mut sfi = node("StringFileInfo", &[], 1, 0, &st);
    pad4(&mut sfi);
    let mut fixed = 0xfeef04bdu32.to_le_bytes().to_vec();
    fixed.resize(52, 0);
    let vi = node("VS_VERSION_INFO", &fixed, 0, 52, &sfi);
    let mut r = vec![0u8; 0x60];
    let dir = |r: &mut Vec<u8>, at: usize, id: u32, off: u32| {
        r[at + 14..at + 16].copy_from_slice(&1u16.to_le_bytes());
        r[at + 16..at + 20].copy_from_slice(&id.to_le_bytes());
        r[at + 20..at + 24].copy_from_slice(&off.to_le_bytes());
    };
    dir(&mut r, 0, 16, 0x8000_0018);
    dir(&mut r, 0x18, 1, 0x8000_0030);
    dir(&mut r, 0x30, 0x409, 0x48);
    r[0x48..0x4c].copy_from_slice(&(rva + 0x60).to_le_bytes());
    r[0x4c..0x50].copy_from_slice(&(vi.len() as u32).to_le_bytes());
    r.extend(vi);
    r
}
