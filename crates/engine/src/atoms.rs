//! Atom selection: the rarest window of literal bytes in a part, used as the prefilter key.

use crate::sigs::hex::{Elem, Part, Split};

/// Longest atom taken from a literal.
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

/// Picks the best literal window of `part` (at least 2 bytes), if any.
pub fn select(part: &Part) -> Option<Split> {
    let mut best: Option<(u32, usize, usize, usize)> = None;
    for (i, e) in part.elems.iter().enumerate() {
        let Elem::Lit(run) = e else { continue };
        let wl = run.len().min(MAX_ATOM);
        for ws in 0..=run.len() - wl {
            let mut score = 0;
            for k in ws..ws + wl {
                score += weight(
                    run[k],
                    k.checked_sub(1).filter(|&p| p >= ws).map(|p| run[p]),
                );
            }
            if best.is_none_or(|(s, ..)| score > s) {
                best = Some((score, i, ws, wl));
            }
        }
    }
    best.map(|(_, i, off, len)| Split::new(part, i, off, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigs::hex::parse;

    #[test]
    fn picks_rare_bytes_over_zeros() {
        let p = parse("0000000000??41424344454647").unwrap();
        let sp = select(&p.parts[0]).unwrap();
        assert_eq!(sp.atom(&p.parts[0].elems), b"ABCDEFG");
        let p = parse("41??42").unwrap();
        assert!(select(&p.parts[0]).is_none());
        let p = parse("4142??43").unwrap();
        assert_eq!(select(&p.parts[0]).unwrap().atom(&p.parts[0].elems), b"AB");
        let long = format!(
            "{}{}",
            "00".repeat(40),
            "41424344454647484950515253545556575859"
        );
        let p = parse(&long).unwrap();
        let sp = select(&p.parts[0]).unwrap();
        assert_eq!(sp.atom(&p.parts[0].elems).len(), MAX_ATOM);
        assert!(!sp.atom(&p.parts[0].elems).contains(&0));
    }
}
