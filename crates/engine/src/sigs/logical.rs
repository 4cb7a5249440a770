//! `.ndb` extended signatures and `.ldb` logical signatures, both parsed into [`LogicalSig`]
//! (an `.ndb` line is a logical signature with one subsignature and the expression `0`).

use super::expr::{self, Expr};
use super::hex::{self, Pattern};
use super::offset::{self, Offset};
use super::{flevel_ok, LineError, FLEVEL};
use crate::filetype::Target;

/// Target description block (`Engine`, `Target`, `FileSize`, `EntryPoint`, `NumberOfSections`,
/// `Container`, `Intermediates`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tdb {
    /// Target type (0 any, 1 PE, 2 OLE2, 3 HTML, 4 mail, 5 graphics, 6 ELF, 7 text, 9 Mach-O,
    /// 10 PDF, 11 Flash, 12 Java).
    pub target: Target,
    /// Allowed object size.
    pub file_size: Option<(u64, u64)>,
    /// Allowed entry point (file offset).
    pub entry_point: Option<(u64, u64)>,
    /// Allowed number of sections.
    pub sections: Option<(u64, u64)>,
    /// `Container:` or `Intermediates:`: which containers the object must have been found in.
    #[serde(default)]
    pub container: Option<crate::cltype::ContainerCond>,
    /// `HandlerType:`: when the signature matches, the object is first scanned again as this
    /// type (by its target's signatures and that type's opener), then the signature itself
    /// reports, as in ClamAV 1.4.
    #[serde(default)]
    pub handler: Option<crate::cltype::ClType>,
}

/// A hex subsignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySub {
    /// Where it must start.
    pub offset: Offset,
    /// The pattern (and its wide form with `::w`, both with `::wa`).
    pub variants: Vec<Pattern>,
    /// `::i`
    pub nocase: bool,
    /// `::f`: delimited by non-alphanumeric bytes.
    pub fullword: bool,
}

/// A PCRE subsignature `[offset:]trigger/regex/flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcreSub {
    /// Where a match may start.
    pub offset: Offset,
    /// The expression over earlier subsignatures that must hold before the regex runs.
    pub trigger: Expr,
    /// The regex.
    pub regex: String,
    /// Flags (`i s m x A E U g r e`).
    pub flags: String,
}

/// A subsignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sub {
    /// Hex body pattern.
    Body(BodySub),
    /// Regular expression.
    Pcre(PcreSub),
}

/// A logical signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalSig {
    /// Threat name.
    pub name: String,
    /// Target description.
    pub tdb: Tdb,
    /// The expression over subsignatures.
    pub expr: Expr,
    /// Subsignatures, at most 64.
    pub subs: Vec<Sub>,
}

const U: fn(&'static str) -> LineError = LineError::Unsupported;
const M: fn(&'static str) -> LineError = LineError::Malformed;

fn target(s: &str) -> Result<Target, LineError> {
    let t: u8 = s.parse().map_err(|_| M("bad target type"))?;
    Target::try_from(t).map_err(|_| U("unknown target type"))
}

/// Parses an `.ndb` line `Name:Target:Offset:Hex[:min[:max]]`.
pub fn parse_ndb(line: &str) -> Result<LogicalSig, LineError> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 {
        return Err(M("ndb line with fewer than 4 fields"));
    }
    flevel_ok(f.get(4).copied(), f.get(5).copied())?;
    let offset =
        offset::parse(f[2]).map_err(|r| if r == "malformed offset" { M(r) } else { U(r) })?;
    let pattern = hex::parse(f[3]).map_err(|e| M(e.0))?;
    Ok(LogicalSig {
        name: f[0].to_string(),
        tdb: Tdb {
            target: target(f[1])?,
            ..Tdb::default()
        },
        expr: Expr::Sub(0),
        subs: vec![Sub::Body(BodySub {
            offset,
            variants: vec![pattern],
            nocase: false,
            fullword: false,
        })],
    })
}

fn range(v: &str) -> Result<(u64, u64), LineError> {
    let (a, b) = v.split_once('-').unwrap_or((v, v));
    let a = a.parse().map_err(|_| M("bad range in target block"))?;
    let b = b.parse().map_err(|_| M("bad range in target block"))?;
    Ok((a, b))
}

fn parse_tdb(s: &str) -> Result<Tdb, LineError> {
    let mut t = Tdb::default();
    let mut have_target = false;
    for kv in s.split(',') {
        let (k, v) = kv.split_once(':').ok_or(M("bad target block"))?;
        match k {
            "Engine" => {
                let (lo, hi) = range(v)?;
                if u64::from(FLEVEL) < lo || u64::from(FLEVEL) > hi {
                    return Err(LineError::Flevel);
                }
            }
            "Target" => {
                t.target = target(v)?;
                have_target = true;
            }
            "FileSize" => t.file_size = Some(range(v)?),
            "EntryPoint" => t.entry_point = Some(range(v)?),
            "NumberOfSections" => t.sections = Some(range(v)?),
            "Container" | "Intermediates" => {
                if t.container.is_some() {
                    return Err(M("both Container and Intermediates in target block"));
                }
                let cond = crate::cltype::ContainerCond::parse(v, k == "Intermediates")
                    .map_err(|_| M("unknown CL_TYPE in Container/Intermediates"))?;
                t.container = Some(cond);
            }
            "IconGroup1" | "IconGroup2" => return Err(U("IconGroup (icon signatures)")),
            "HandlerType" => {
                let t_: crate::cltype::ClType =
                    v.parse().map_err(|_| M("unknown CL_TYPE in HandlerType"))?;
                t.handler = Some(t_);
            }
            _ => return Err(U("unknown target block key")),
        }
    }
    if !have_target {
        return Err(M("target block without Target"));
    }
    Ok(t)
}

fn parse_sub(s: &str) -> Result<Sub, LineError> {
    if s.contains('/') {
        return parse_pcre(s);
    }
    if s.starts_with("${") {
        return Err(U("macro subsignature"));
    }
    if s.starts_with("fuzzy_img#") {
        return Err(U("fuzzy_img subsignature"));
    }
    // Split as ClamAV does (`cli_ldbtokenize` on ':' into at most five fields): `sig`,
    // `offset:sig`, `sig::mods`, `offset:sig::mods`; with five or more fields only the first is
    // used, as the pattern, without modifiers (main.ldb has such a line).
    let f: Vec<&str> = s.splitn(5, ':').collect();
    let (off_s, hexs, mods) = match f.as_slice() {
        [sig] => (None, *sig, ""),
        [off, sig] => (Some(*off), *sig, ""),
        [sig, _, mods] => (None, *sig, *mods),
        [off, sig, _, mods] => (Some(*off), *sig, *mods),
        [sig, ..] => (None, *sig, ""),
        [] => (None, s, ""),
    };
    let off = match off_s {
        Some(o) => {
            offset::parse(o).map_err(|r| if r == "malformed offset" { M(r) } else { U(r) })?
        }
        None => Offset::ANY,
    };
    if hexs.contains("(>>") || hexs.contains("(<<") || (hexs.contains('#') && hexs.contains('(')) {
        return Err(U("byte-compare subsignature"));
    }
    let (mut nocase, mut wide, mut ascii, mut fullword) = (false, false, false, false);
    for c in mods.chars() {
        match c {
            'i' => nocase = true,
            'w' => wide = true,
            'a' => ascii = true,
            'f' => fullword = true,
            _ => return Err(M("unknown subsignature modifier")),
        }
    }
    let p = hex::parse(hexs).map_err(|e| M(e.0))?;
    let variants = match (wide, ascii) {
        (true, true) => vec![hex::widen(&p), p],
        (true, false) => vec![hex::widen(&p)],
        _ => vec![p],
    };
    Ok(Sub::Body(BodySub {
        offset: off,
        variants,
        nocase,
        fullword,
    }))
}

fn parse_pcre(s: &str) -> Result<Sub, LineError> {
    let first = s.find('/').ok_or(M("bad pcre"))?;
    let last = s.rfind('/').ok_or(M("bad pcre"))?;
    if last <= first {
        return Err(M("unterminated pcre"));
    }
    let head = &s[..first];
    let (off, trig) = match head.rsplit_once(':') {
        Some((o, t)) => (
            offset::parse(o).map_err(|r| if r == "malformed offset" { M(r) } else { U(r) })?,
            t,
        ),
        None => (Offset::ANY, head),
    };
    let trigger = expr::parse(trig).map_err(M)?;
    let flags = s[last + 1..].to_string();
    if flags.chars().any(|c| !"gresimxAEU".contains(c)) {
        return Err(M("unknown pcre flag"));
    }
    Ok(Sub::Pcre(PcreSub {
        offset: off,
        trigger,
        regex: s[first + 1..last].to_string(),
        flags,
    }))
}

/// Parses an `.ldb` line `Name;TDB;Expr;Sub0;Sub1…`.
pub fn parse_ldb(line: &str) -> Result<LogicalSig, LineError> {
    let f: Vec<&str> = line.split(';').collect();
    if f.len() < 4 {
        return Err(M("ldb line with fewer than 4 fields"));
    }
    let tdb = parse_tdb(f[1])?;
    let expr = expr::parse(f[2]).map_err(M)?;
    let subs: Vec<Sub> = f[3..]
        .iter()
        .map(|s| parse_sub(s))
        .collect::<Result<_, _>>()?;
    if subs.len() > 64 {
        return Err(M("more than 64 subsignatures"));
    }
    if usize::from(expr.max_sub()) >= subs.len() {
        return Err(M("expression refers to a missing subsignature"));
    }
    for s in &subs {
        if let Sub::Pcre(p) = s {
            if usize::from(p.trigger.max_sub()) >= subs.len() {
                return Err(M("pcre trigger refers to a missing subsignature"));
            }
        }
    }
    Ok(LogicalSig {
        name: f[0].to_string(),
        tdb,
        expr,
        subs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndb_lines() {
        let s = parse_ndb("Test.A:1:EP+0,100:41424344").unwrap();
        assert_eq!(s.tdb.target, Target::Pe);
        assert_eq!(s.expr, Expr::Sub(0));
        assert!(parse_ndb("Test.A:0:*:41424344:999").is_err());
        assert!(parse_ndb("Test.A:1:VI:41424344").is_ok());
        assert!(parse_ndb("Test.A:0:*:4142434").is_err());
        assert!(parse_ndb("Test.A:8:*:41424344").is_err());
    }

    #[test]
    fn ldb_lines() {
        let s = parse_ldb("T.B;Engine:51-255,Target:1,FileSize:10-2000;0&1;41424344::iw;EP+0:4545??46;0/abc[0-9]+/si").unwrap();
        assert_eq!(s.tdb.file_size, Some((10, 2000)));
        match &s.subs[0] {
            Sub::Body(b) => assert!(b.nocase && b.variants.len() == 1),
            _ => panic!(),
        }
        match &s.subs[2] {
            Sub::Pcre(p) => assert_eq!((p.regex.as_str(), p.flags.as_str()), ("abc[0-9]+", "si")),
            _ => panic!(),
        }
        assert_eq!(
            parse_ldb("T;Engine:300-400,Target:0;0;4142"),
            Err(LineError::Flevel)
        );
        // Five ':'-separated fields: ClamAV takes the first as the pattern, with no modifiers
        // (observed with clamscan 1.4.6: `414243::i*4445::i` matches `ABC` case-sensitively).
        let s = parse_ldb("T;Engine:81-255,Target:0;0;414243::i*4445::i").unwrap();
        match &s.subs[0] {
            Sub::Body(b) => assert!(!b.nocase && b.variants[0].parts.len() == 1),
            _ => panic!(),
        }
        assert!(parse_ldb("T;Engine:81-255,Target:0;0;414243::w*4445").is_err());
        assert_eq!(
            parse_ldb("T;Engine:51-255,Container:CL_TYPE_NOPE,Target:0;0;4142"),
            Err(M("unknown CL_TYPE in Container/Intermediates"))
        );
        assert!(parse_ldb("T;Engine:51-255,Target:0;0&1;4142").is_err());
        assert!(parse_ldb("T;Engine:51-255,Target:0;0;4142::q").is_err());
        let s = parse_ldb("T;Engine:51-255,Target:0;0;41424344::wa").unwrap();
        match &s.subs[0] {
            Sub::Body(b) => assert_eq!(b.variants.len(), 2),
            _ => panic!(),
        }
    }
}
