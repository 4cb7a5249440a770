//! Shared helpers for tests on the real ClamAV signature files: locating them (never copied into
//! the repository) and building samples that satisfy a signature (or narrowly miss it).

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use bulwark_engine::filetype::Target;
use bulwark_engine::sigs::expr::Expr;
use bulwark_engine::sigs::hex::{Elem, Pattern};
use bulwark_engine::sigs::logical::{LogicalSig, Sub};
use bulwark_engine::sigs::offset::Base;

/// The directory of real signature files: `$BULWARK_CLAMAV_SIGS`, else `../shared/clamav-sigs`
/// next to the workspace.
pub fn sigs_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BULWARK_CLAMAV_SIGS") {
        return Some(PathBuf::from(p));
    }
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        m.join("../../../shared/clamav-sigs"),
        m.join("../../shared/clamav-sigs"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// Reads a gzip'd signature file into lines.
pub fn read_lines(name: &str) -> Vec<String> {
    let Some(d) = sigs_dir() else {
        return Vec::new();
    };
    let raw = std::fs::read(d.join(name)).unwrap_or_default();
    let mut s = String::new();
    let _ = flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_string(&mut s);
    s.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

const FILL: u8 = b'.';

fn gen_seq(elems: &[Elem], out: &mut Vec<u8>, corrupt: &mut bool) {
    let longest = elems
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            if let Elem::Lit(l) = e {
                Some((l.len(), i))
            } else {
                None
            }
        })
        .max()
        .map(|x| x.1);
    for (i, e) in elems.iter().enumerate() {
        match e {
            Elem::Byte(b) => out.push(*b),
            Elem::Lit(l) => {
                let st = out.len();
                out.extend_from_slice(l);
                if *corrupt && Some(i) == longest {
                    out[st + l.len() / 2] ^= 0x55;
                    *corrupt = false;
                }
            }
            Elem::Mask { val, .. } => out.push(*val),
            Elem::Any => out.push(FILL),
            Elem::Class(set) => {
                let b = (0..=255u8)
                    .find(|&b| set[(b >> 6) as usize] & (1 << (b & 63)) != 0)
                    .unwrap_or(0);
                out.push(b);
            }
            Elem::Gap { min, .. } => out.extend(std::iter::repeat_n(FILL, *min as usize)),
            Elem::Alt(a) => gen_seq(&a[0], out, &mut false),
            Elem::NegAlt(a, n) => {
                // A byte sequence that differs from every alternative in its first byte.
                let firsts: Vec<u8> = a
                    .iter()
                    .filter_map(|s| match s.first() {
                        Some(Elem::Byte(b)) => Some(*b),
                        Some(Elem::Lit(l)) => l.first().copied(),
                        _ => None,
                    })
                    .collect();
                let b = (0x21..=0x7eu8)
                    .find(|b| !firsts.contains(b))
                    .unwrap_or(0x01);
                out.push(b);
                out.extend(std::iter::repeat_n(FILL, *n as usize - 1));
            }
            Elem::Boundary { .. } => {}
        }
    }
}

/// Bytes satisfying `p` (minimal gaps); with `corrupt`, one byte of the first part's longest
/// literal is changed.
pub fn gen_pattern(p: &Pattern, corrupt: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut c = corrupt;
    for (i, part) in p.parts.iter().enumerate() {
        if i > 0 {
            out.extend(std::iter::repeat_n(FILL, p.gaps[i - 1].0 as usize));
        }
        gen_seq(&part.elems, &mut out, &mut c);
    }
    out
}

fn simple(e: &Expr) -> bool {
    match e {
        Expr::Sub(_) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().all(simple),
        Expr::Count { .. } => false,
    }
}

/// A PE32 image with `code` at the entry point (section 0's start).
pub fn tiny_pe(code: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 0x200];
    let put = |d: &mut Vec<u8>, o: usize, v: &[u8]| d[o..o + v.len()].copy_from_slice(v);
    put(&mut d, 0, b"MZ");
    put(&mut d, 0x3c, &0x80u32.to_le_bytes());
    put(&mut d, 0x80, b"PE\0\0");
    let c = 0x84;
    put(&mut d, c, &0x14cu16.to_le_bytes());
    put(&mut d, c + 2, &1u16.to_le_bytes());
    put(&mut d, c + 16, &0xe0u16.to_le_bytes());
    put(&mut d, c + 18, &0x0102u16.to_le_bytes());
    let o = c + 20;
    put(&mut d, o, &0x10bu16.to_le_bytes());
    put(&mut d, o + 16, &0x1000u32.to_le_bytes());
    put(&mut d, o + 28, &0x400000u32.to_le_bytes());
    put(&mut d, o + 32, &0x1000u32.to_le_bytes());
    put(&mut d, o + 36, &0x200u32.to_le_bytes());
    put(&mut d, o + 40, &4u16.to_le_bytes());
    put(&mut d, o + 48, &4u16.to_le_bytes());
    let raw = code.len().div_ceil(0x200).max(1) * 0x200;
    put(
        &mut d,
        o + 56,
        &(0x1000u32 + (raw as u32).next_multiple_of(0x1000)).to_le_bytes(),
    );
    put(&mut d, o + 60, &0x200u32.to_le_bytes());
    put(&mut d, o + 68, &2u16.to_le_bytes());
    put(&mut d, o + 92, &16u32.to_le_bytes());
    let s = o + 0xe0;
    put(&mut d, s, b".text");
    put(&mut d, s + 8, &(raw as u32).to_le_bytes());
    put(&mut d, s + 12, &0x1000u32.to_le_bytes());
    put(&mut d, s + 16, &(raw as u32).to_le_bytes());
    put(&mut d, s + 20, &0x200u32.to_le_bytes());
    put(&mut d, s + 36, &0x6000_0020u32.to_le_bytes());
    let mut sec = code.to_vec();
    sec.resize(raw, 0);
    d.extend_from_slice(&sec);
    d
}

/// A sample for a logical signature (every subsignature present), or `None` when this generator
/// cannot build one (counts, PCRE, size/EP conditions, targets other than 0 and 1, offsets other
/// than `*`, `n`, `EOF-n` and `EP+n`/`S0+n` for single-subsignature signatures).
pub fn sample(ls: &LogicalSig, corrupt: bool) -> Option<Vec<u8>> {
    if !simple(&ls.expr)
        || ls.tdb.file_size.is_some()
        || ls.tdb.entry_point.is_some()
        || ls.tdb.sections.is_some()
    {
        return None;
    }
    if !matches!(ls.tdb.target, Target::Any | Target::Pe) {
        return None;
    }
    let mut body = Vec::new();
    let single = ls.subs.len() == 1;
    let mut eof_pad: Option<usize> = None;
    for (i, s) in ls.subs.iter().enumerate() {
        let Sub::Body(b) = s else { return None };
        let bytes = gen_pattern(&b.variants[0], corrupt && i == 0);
        match b.offset.base {
            Base::Any => {
                body.extend(std::iter::repeat_n(FILL, 16));
                body.extend_from_slice(&bytes);
                body.extend(std::iter::repeat_n(FILL, 16));
            }
            Base::Abs(n) if single && ls.tdb.target == Target::Any => {
                body.extend(std::iter::repeat_n(FILL, n as usize));
                body.extend_from_slice(&bytes);
                body.extend(std::iter::repeat_n(FILL, 16));
            }
            Base::Eof(n) if single && ls.tdb.target == Target::Any && n as usize >= bytes.len() => {
                body.extend(std::iter::repeat_n(FILL, 16));
                body.extend_from_slice(&bytes);
                eof_pad = Some(n as usize - bytes.len());
            }
            Base::Ep(n) if single && ls.tdb.target == Target::Pe && n >= 0 => {
                body.extend(std::iter::repeat_n(FILL, n as usize));
                body.extend_from_slice(&bytes);
                body.extend(std::iter::repeat_n(FILL, 16));
            }
            Base::Section(0, n) if single && ls.tdb.target == Target::Pe => {
                body.extend(std::iter::repeat_n(FILL, n as usize));
                body.extend_from_slice(&bytes);
                body.extend(std::iter::repeat_n(FILL, 16));
            }
            _ => return None,
        }
    }
    if let Some(p) = eof_pad {
        body.extend(std::iter::repeat_n(FILL, p));
    }
    Some(if ls.tdb.target == Target::Pe {
        tiny_pe(&body)
    } else {
        body
    })
}
