//! Signature offsets: `*`, `n`, `EOF-n`, `EP+n`, `EP-n`, `Sx+n`, `SEx`, `SL+n`, `VI`, each
//! optionally floating as `base,maxshift`.

/// Where an offset is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Base {
    /// Anywhere (`*`).
    Any,
    /// From the start of the object.
    Abs(u64),
    /// `n` bytes before the end of the object.
    Eof(u64),
    /// From the executable's entry point (may be negative).
    Ep(i64),
    /// `n` bytes into section `x` (0-based).
    Section(u32, u64),
    /// Anywhere inside section `x`.
    SectionEntire(u32),
    /// `n` bytes into the last section.
    LastSection(u64),
    /// `VI`: at the start of one of a PE's version-information key/value pairs (the UTF-16
    /// bytes from the key to the end of its `String` structure).
    VersionInfo,
}

/// A parsed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offset {
    /// Where the signature must start.
    pub base: Base,
    /// It may start up to this many bytes later.
    pub shift: u64,
}

impl Offset {
    /// The `*` offset.
    pub const ANY: Offset = Offset {
        base: Base::Any,
        shift: 0,
    };

    /// True when the offset needs an executable's headers.
    pub fn needs_exe(&self) -> bool {
        matches!(
            self.base,
            Base::Ep(_)
                | Base::Section(..)
                | Base::SectionEntire(_)
                | Base::LastSection(_)
                | Base::VersionInfo
        )
    }
}

fn n(s: &str) -> Result<u64, &'static str> {
    s.parse::<u64>().map_err(|_| "malformed offset")
}

/// Parses an offset field.
pub fn parse(s: &str) -> Result<Offset, &'static str> {
    if s == "*" {
        return Ok(Offset::ANY);
    }
    let (b, shift) = match s.split_once(',') {
        Some((b, sh)) => (b, n(sh)?),
        None => (s, 0),
    };
    let base = if let Some(r) = b.strip_prefix("EOF-") {
        Base::Eof(n(r)?)
    } else if let Some(r) = b.strip_prefix("EP+") {
        Base::Ep(i64::try_from(n(r)?).map_err(|_| "malformed offset")?)
    } else if let Some(r) = b.strip_prefix("EP-") {
        Base::Ep(-i64::try_from(n(r)?).map_err(|_| "malformed offset")?)
    } else if let Some(r) = b.strip_prefix("SL+") {
        Base::LastSection(n(r)?)
    } else if let Some(r) = b.strip_prefix("SE") {
        Base::SectionEntire(u32::try_from(n(r)?).map_err(|_| "malformed offset")?)
    } else if let Some(r) = b.strip_prefix('S') {
        let (x, off) = r.split_once('+').ok_or("malformed offset")?;
        Base::Section(
            u32::try_from(n(x)?).map_err(|_| "malformed offset")?,
            n(off)?,
        )
    } else if b == "VI" {
        if shift != 0 {
            return Err("malformed offset");
        }
        Base::VersionInfo
    } else if b.starts_with('$') {
        return Err("macro group offset not supported");
    } else {
        Base::Abs(n(b)?)
    };
    Ok(Offset { base, shift })
}

/// Executable layout needed to resolve offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExeInfo {
    /// File offset of the entry point.
    pub ep: u64,
    /// `(file offset, raw size)` of each section.
    pub sections: Vec<(u64, u64)>,
}

/// Resolves an offset to the allowed start range `[lo, hi]` for an object of `size` bytes, or
/// `None` when it cannot apply (no executable info, out of range) or is `*`.
pub fn resolve(o: &Offset, size: u64, exe: Option<&ExeInfo>) -> Option<(u64, u64)> {
    let lo = match o.base {
        Base::Any | Base::VersionInfo => return None,
        Base::Abs(n) => n,
        Base::Eof(n) => size.checked_sub(n)?,
        Base::Ep(d) => {
            let ep = exe?.ep as i64 + d;
            u64::try_from(ep).ok()?
        }
        Base::Section(x, n) => exe?.sections.get(x as usize)?.0 + n,
        Base::LastSection(n) => exe?.sections.last()?.0 + n,
        Base::SectionEntire(x) => {
            let (off, sz) = *exe?.sections.get(x as usize)?;
            return Some((off, off + sz.saturating_sub(1)));
        }
    };
    Some((lo, lo.saturating_add(o.shift)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("*").unwrap(), Offset::ANY);
        assert_eq!(
            parse("12").unwrap(),
            Offset {
                base: Base::Abs(12),
                shift: 0
            }
        );
        assert_eq!(
            parse("12,5").unwrap(),
            Offset {
                base: Base::Abs(12),
                shift: 5
            }
        );
        assert_eq!(parse("EOF-10").unwrap().base, Base::Eof(10));
        assert_eq!(
            parse("EP+0,100").unwrap(),
            Offset {
                base: Base::Ep(0),
                shift: 100
            }
        );
        assert_eq!(parse("EP-4").unwrap().base, Base::Ep(-4));
        assert_eq!(parse("S2+16").unwrap().base, Base::Section(2, 16));
        assert_eq!(parse("SE1").unwrap().base, Base::SectionEntire(1));
        assert_eq!(parse("SL+3").unwrap().base, Base::LastSection(3));
        assert_eq!(parse("VI").unwrap().base, Base::VersionInfo);
        assert!(parse("VI,4").is_err());
        assert!(parse("EOF+3").is_err());
        assert!(parse("x").is_err());
    }

    #[test]
    fn resolves() {
        let exe = ExeInfo {
            ep: 0x400,
            sections: vec![(0x200, 0x100), (0x300, 0x50)],
        };
        assert_eq!(
            resolve(&parse("EOF-10,2").unwrap(), 100, None),
            Some((90, 92))
        );
        assert_eq!(resolve(&parse("EOF-200").unwrap(), 100, None), None);
        assert_eq!(
            resolve(&parse("EP-16").unwrap(), 100, Some(&exe)),
            Some((0x3f0, 0x3f0))
        );
        assert_eq!(
            resolve(&parse("S1+4").unwrap(), 100, Some(&exe)),
            Some((0x304, 0x304))
        );
        assert_eq!(
            resolve(&parse("SE0").unwrap(), 100, Some(&exe)),
            Some((0x200, 0x2ff))
        );
        assert_eq!(resolve(&parse("EP+0").unwrap(), 100, None), None);
    }
}
