//! The `Encapsulated` header (RFC 3507 §4.4.1): which HTTP heads and which body follow the
//! ICAP head, at which byte offsets.

use std::fmt;

use crate::{Error, ErrorKind};

/// Largest offset accepted in an `Encapsulated` header. Far above any head limit; it only keeps
/// the arithmetic clear of overflow.
const MAX_OFFSET: usize = 1 << 32;

/// One entry kind of an `Encapsulated` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// `req-hdr`: an encapsulated HTTP request head.
    ReqHdr,
    /// `res-hdr`: an encapsulated HTTP response head.
    ResHdr,
    /// `req-body`: a chunked HTTP request body.
    ReqBody,
    /// `res-body`: a chunked HTTP response body.
    ResBody,
    /// `null-body`: no body follows.
    NullBody,
    /// `opt-body`: a chunked OPTIONS body.
    OptBody,
}

impl Section {
    /// The entry's name on the wire, e.g. `res-hdr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::ReqHdr => "req-hdr",
            Section::ResHdr => "res-hdr",
            Section::ReqBody => "req-body",
            Section::ResBody => "res-body",
            Section::NullBody => "null-body",
            Section::OptBody => "opt-body",
        }
    }

    /// True for the four body kinds (including `null-body`), which must come last.
    pub fn is_body(self) -> bool {
        !matches!(self, Section::ReqHdr | Section::ResHdr)
    }

    /// Looks an entry name up, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Section::ReqHdr,
            Section::ResHdr,
            Section::ReqBody,
            Section::ResBody,
            Section::NullBody,
            Section::OptBody,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Position in the mandatory order: `req-hdr`, `res-hdr`, then one body.
    fn rank(self) -> u8 {
        match self {
            Section::ReqHdr => 0,
            Section::ResHdr => 1,
            _ => 2,
        }
    }
}

/// A parsed and checked `Encapsulated` header.
///
/// [`Encapsulated::parse`] guarantees: entries in the order `req-hdr`, `res-hdr`, body (each
/// head at most once, exactly one body entry, last); the first offset is 0; offsets strictly
/// increase. Offsets count from the first byte after the ICAP head's blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encapsulated {
    /// Offset of the HTTP request head, if any.
    pub req_hdr: Option<usize>,
    /// Offset of the HTTP response head, if any.
    pub res_hdr: Option<usize>,
    /// The body entry (possibly `null-body`).
    pub body: Section,
    /// Offset of the body entry: the total length of the encapsulated heads.
    pub body_offset: usize,
}

impl Encapsulated {
    /// `null-body=0`: no heads, no body.
    pub const NULL: Encapsulated = Encapsulated {
        req_hdr: None,
        res_hdr: None,
        body: Section::NullBody,
        body_offset: 0,
    };

    /// Parses and checks a header value such as `req-hdr=0, res-hdr=412, res-body=820`.
    /// Every failure is a [`ErrorKind::BadRequest`] whose reason names the problem.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::new(ErrorKind::BadRequest, reason);
        let mut req_hdr = None;
        let mut res_hdr = None;
        let mut body: Option<(Section, usize)> = None;
        let mut last: Option<(Section, usize)> = None;
        for entry in value.split(',') {
            let entry = entry.trim_matches(|c| c == ' ' || c == '\t');
            if entry.is_empty() {
                return Err(bad(format!("Encapsulated: empty entry in {value:?}")));
            }
            let Some((name, offset)) = entry.split_once('=') else {
                return Err(bad(format!("Encapsulated: entry {entry:?} has no '='")));
            };
            let (name, offset) = (name.trim_end(), offset.trim_start());
            let Some(section) = Section::from_name(name) else {
                return Err(bad(format!("Encapsulated: unknown entry {name:?}")));
            };
            let offset = parse_offset(offset).ok_or_else(|| {
                bad(format!(
                    "Encapsulated: {} offset {offset:?} is not a number",
                    section.as_str()
                ))
            })?;
            match last {
                None if offset != 0 => {
                    return Err(bad(format!(
                        "Encapsulated: first entry {}={offset} does not start at 0",
                        section.as_str()
                    )))
                }
                Some((prev, _)) if prev.is_body() => {
                    return Err(bad(format!(
                        "Encapsulated: {} after the body entry {}",
                        section.as_str(),
                        prev.as_str()
                    )))
                }
                Some((prev, _)) if section.rank() <= prev.rank() => {
                    return Err(bad(format!(
                        "Encapsulated: {} may not follow {} (order is req-hdr, res-hdr, body)",
                        section.as_str(),
                        prev.as_str()
                    )))
                }
                Some((prev, prev_off)) if offset <= prev_off => {
                    return Err(bad(format!(
                        "Encapsulated: offsets not increasing ({}={prev_off}, {}={offset})",
                        prev.as_str(),
                        section.as_str()
                    )))
                }
                _ => {}
            }
            match section {
                Section::ReqHdr => req_hdr = Some(offset),
                Section::ResHdr => res_hdr = Some(offset),
                _ => body = Some((section, offset)),
            }
            last = Some((section, offset));
        }
        let Some((body, body_offset)) = body else {
            return Err(bad(
                "Encapsulated: no req-body, res-body, null-body or opt-body entry last".into(),
            ));
        };
        Ok(Self {
            req_hdr,
            res_hdr,
            body,
            body_offset,
        })
    }

    /// True when a chunked body follows the heads (anything but `null-body`).
    pub fn has_body(&self) -> bool {
        self.body != Section::NullBody
    }

    /// The encapsulated heads in order, each with its start and end offsets.
    pub fn heads(&self) -> impl Iterator<Item = (Section, usize, usize)> {
        let req_end = self.res_hdr.unwrap_or(self.body_offset);
        let req = self.req_hdr.map(|s| (Section::ReqHdr, s, req_end));
        let res = self.res_hdr.map(|s| (Section::ResHdr, s, self.body_offset));
        req.into_iter().chain(res)
    }
}

impl fmt::Display for Encapsulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = self.req_hdr {
            write!(f, "req-hdr={o}, ")?;
        }
        if let Some(o) = self.res_hdr {
            write!(f, "res-hdr={o}, ")?;
        }
        write!(f, "{}={}", self.body.as_str(), self.body_offset)
    }
}

/// A decimal offset: digits only, at most [`MAX_OFFSET`].
fn parse_offset(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<usize>().ok().filter(|&n| n <= MAX_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: &str) -> String {
        match Encapsulated::parse(v) {
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::BadRequest);
                e.reason
            }
            Ok(e) => panic!("{v:?} parsed as {e:?}"),
        }
    }

    #[test]
    fn squid_respmod_shape() {
        let e = Encapsulated::parse("req-hdr=0, res-hdr=412, res-body=820").unwrap();
        assert_eq!(e.req_hdr, Some(0));
        assert_eq!(e.res_hdr, Some(412));
        assert_eq!(e.body, Section::ResBody);
        assert_eq!(e.body_offset, 820);
        assert!(e.has_body());
        let heads: Vec<_> = e.heads().collect();
        assert_eq!(
            heads,
            vec![(Section::ReqHdr, 0, 412), (Section::ResHdr, 412, 820)]
        );
        assert_eq!(e.to_string(), "req-hdr=0, res-hdr=412, res-body=820");
    }

    #[test]
    fn simple_forms() {
        assert_eq!(
            Encapsulated::parse("null-body=0").unwrap(),
            Encapsulated::NULL
        );
        let e = Encapsulated::parse("req-hdr=0,null-body=170").unwrap();
        assert!(!e.has_body());
        assert_eq!(e.heads().count(), 1);
        let e = Encapsulated::parse("opt-body=0").unwrap();
        assert_eq!(e.body, Section::OptBody);
        let e = Encapsulated::parse("RES-HDR=0 , Res-Body=10").unwrap();
        assert_eq!(e.res_hdr, Some(0));
        assert_eq!(e.body, Section::ResBody);
    }

    #[test]
    fn rejects_bad_order_and_offsets() {
        assert!(err("res-hdr=0, req-hdr=10, res-body=20").contains("may not follow"));
        assert!(err("req-hdr=0, req-hdr=10, req-body=20").contains("may not follow"));
        assert!(err("req-hdr=0, null-body=10, res-hdr=20").contains("after the body"));
        assert!(err("req-body=0, res-body=10").contains("after the body"));
        assert!(err("req-hdr=0, res-hdr=100, res-body=100").contains("not increasing"));
        assert!(err("req-hdr=0, res-hdr=100, res-body=50").contains("not increasing"));
        assert!(err("req-hdr=5, req-body=100").contains("does not start at 0"));
        assert!(err("req-hdr=0").contains("no req-body"));
        assert!(err("req-hdr=0, ").contains("empty entry"));
        assert!(err("").contains("empty entry"));
        assert!(err("req-hdr=0, foo-body=10").contains("unknown entry"));
        assert!(err("req-hdr 0, req-body=10").contains("no '='"));
        assert!(err("req-hdr=0, req-body=-1").contains("not a number"));
        assert!(err("req-hdr=0, req-body=+1").contains("not a number"));
        assert!(err("req-hdr=0, req-body=99999999999999999999").contains("not a number"));
    }
}
