//! Atom selection: the rarest run of literal bytes in a part, used as the prefilter key.

use crate::sigs::hex::{Elem, Part};

/// Longest atom taken from a run.
pub const MAX_ATOM: usize = 16;
/// Atoms shorter than this are "weak" (more false hits) but still accepted down to 2 bytes.
pub const GOOD_ATOM: usize = 4;

fn weight(b: u8, prev: Option<u8>) -> u32 {
    if prev == Some(b) {
        return 1;
    }
    match b {
        0x00 | 0xff => 1,
        0x20 | 0x90 | 0xcc | 0x01 | 0x0a | 0x0d => 3,
        b'a'..=b'z' => 6,
        _ => 8,
    }
}

/// Picks `(element index, length, bytes)` of the best literal window in `part`, if any run of at
/// least 2 literal bytes exists.
pub fn select(part: &Part) -> Option<(usize, Vec<u8>)> {
    let e = &part.elems;
    let mut best: Option<(u32, usize, usize)> = None;
    let mut i = 0;
    while i < e.len() {
        if !matches!(e[i], Elem::Byte(_)) {
            i += 1;
            continue;
        }
        let start = i;
        while i < e.len() && matches!(e[i], Elem::Byte(_)) {
            i += 1;
        }
        let run: Vec<u8> = e[start..i]
            .iter()
            .filter_map(|x| if let Elem::Byte(b) = x { Some(*b) } else { None })
            .collect();
        if run.len() < 2 {
            continue;
        }
        let wl = run.len().min(MAX_ATOM);
        for ws in 0..=run.len() - wl {
            let mut score = 0;
            for k in ws..ws + wl {
                score += weight(run[k], k.checked_sub(1).filter(|&p| p >= ws).map(|p| run[p]));
            }
            if best.is_none_or(|(s, _, _)| score > s) {
                best = Some((score, start + ws, wl));
            }
        }
    }
    best.map(|(_, at, len)| {
        let bytes = e[at..at + len]
            .iter()
            .filter_map(|x| if let Elem::Byte(b) = x { Some(*b) } else { None })
            .collect();
        (at, bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigs::hex::parse;

    #[test]
    fn picks_rare_bytes_over_zeros() {
        let p = parse("0000000000??41424344454647").unwrap();
        let (at, a) = select(&p.parts[0]).unwrap();
        assert_eq!((at, a.as_slice()), (6, &b"ABCDEFG"[..]));
        let p = parse("41??42").unwrap();
        assert!(select(&p.parts[0]).is_none());
        let p = parse("4142??43").unwrap();
        assert_eq!(select(&p.parts[0]).unwrap().1, b"AB");
        let long = "41".repeat(40);
        let p = parse(&long).unwrap();
        assert_eq!(select(&p.parts[0]).unwrap().1.len(), MAX_ATOM);
    }
}
