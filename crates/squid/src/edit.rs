//! Pure text edit: put the managed block into a squid.conf.
//!
//! Follows Squid's own reading of squid.conf (`parseOneConfigFile`): leading white space is
//! ignored, lines starting with `#` and empty lines are skipped, a trailing `\` continues the
//! directive on the next non-comment, non-empty line, and `if`/`else`/`endif` open conditional
//! sections.

use crate::snippet::{
    snippet, SnippetOptions, BEGIN_MARKER_PREFIX, END_MARKER, GET_ACL, REQ_SERVICE, RESP_SERVICE,
};
use crate::ApplyError;

/// Where the block went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// An existing managed block (starting at this 1-based line) was replaced in place.
    Replaced {
        /// 1-based line of the old `# BEGIN bulwark` marker.
        line: usize,
    },
    /// Inserted before the first top-level `http_access deny all` (this 1-based line of the
    /// original file; the comment lines right above it stay with it).
    BeforeDenyAll {
        /// 1-based line of `http_access deny all` in the original file.
        line: usize,
    },
    /// Appended at the end of the file (no top-level `http_access deny all` found).
    End,
}

/// The result of [`plan_edit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new file content.
    pub text: Vec<u8>,
    /// Whether it differs from the input.
    pub changed: bool,
    /// Where the block went.
    pub placement: Placement,
    /// Lines outside the block that may interfere with it (other ICAP/adaptation settings,
    /// names the block uses), one message each.
    pub warnings: Vec<String>,
}

/// Directives outside the block worth a warning: they configure adaptation too.
const ADAPTATION_DIRECTIVES: &[&str] = &[
    "icap_enable",
    "icap_service",
    "icap_class",
    "icap_access",
    "adaptation_access",
    "adaptation_service_set",
    "adaptation_service_chain",
    "ecap_service",
];

struct Line<'a> {
    /// The whole physical line, terminator included.
    raw: &'a [u8],
    /// Content without terminator and leading white space.
    content: &'a [u8],
}

fn split_lines(text: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = match memchr_nl(&text[start..]) {
            Some(i) => start + i + 1,
            None => text.len(),
        };
        let raw = &text[start..end];
        let mut c = raw;
        while let Some((&last, rest)) = c.split_last() {
            if last == b'\n' || last == b'\r' {
                c = rest;
            } else {
                break;
            }
        }
        while let Some((&first, rest)) = c.split_first() {
            if first == b' ' || first == b'\t' {
                c = rest;
            } else {
                break;
            }
        }
        out.push(Line { raw, content: c });
        start = end;
    }
    out
}

fn memchr_nl(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

fn words(content: &[u8]) -> Vec<&[u8]> {
    content
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect()
}

fn is_skipped(content: &[u8]) -> bool {
    content.is_empty() || content.starts_with(b"#")
}

fn ends_with_continuation(content: &[u8]) -> bool {
    content.ends_with(b"\\")
}

/// Puts the managed block for `opts` into `text`: replaces an existing block, or inserts one
/// before the first top-level `http_access deny all` (with the comment lines right above it
/// kept next to it), or appends it at the end. Pure: no I/O.
///
/// Errors: invalid options; unbalanced or repeated markers; a marker or the end of the file
/// inside a `\` line continuation (the block would be glued onto another directive).
pub fn plan_edit(text: &[u8], opts: &SnippetOptions) -> Result<Edit, ApplyError> {
    opts.validate()?;
    let lines = split_lines(text);
    let crlf = lines.first().is_some_and(|l| l.raw.ends_with(b"\r\n"));
    let mut block = snippet(opts);
    if crlf {
        block = block.replace('\n', "\r\n");
    }
    let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };

    // One pass: markers, continuation state, conditional depth, insertion point, warnings.
    let mut begin: Option<usize> = None;
    let mut end: Option<usize> = None;
    let mut deny_all: Option<usize> = None;
    let mut continuing = false; // the previous directive line ended with '\'
    let mut depth = 0usize; // if/endif nesting
    let mut warnings = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let c = l.content;
        let lineno = i + 1;
        if c.starts_with(BEGIN_MARKER_PREFIX.as_bytes()) {
            if begin.is_some() {
                return Err(ApplyError::Markers {
                    line: lineno,
                    reason: "a second '# BEGIN bulwark' marker: keep one managed block",
                });
            }
            if continuing {
                return Err(ApplyError::Markers {
                    line: lineno,
                    reason: "the managed block starts inside a '\\' line continuation",
                });
            }
            begin = Some(i);
            continue;
        }
        if trim_end(c) == END_MARKER.as_bytes() {
            match (begin, end) {
                (None, _) => {
                    return Err(ApplyError::Markers {
                        line: lineno,
                        reason: "'# END bulwark' without '# BEGIN bulwark' before it",
                    })
                }
                (Some(_), Some(_)) => {
                    return Err(ApplyError::Markers {
                        line: lineno,
                        reason: "a second '# END bulwark' marker",
                    })
                }
                (Some(_), None) => end = Some(i),
            }
            continue;
        }
        let inside_block = begin.is_some() && end.is_none();
        if is_skipped(c) {
            continue;
        }
        let starts_directive = !continuing;
        continuing = ends_with_continuation(c);
        if !starts_directive || inside_block {
            continue;
        }
        let w = words(c);
        match w.first().copied() {
            Some(b"if") => depth += 1,
            Some(b"endif") => depth = depth.saturating_sub(1),
            _ => {}
        }
        if deny_all.is_none() && depth == 0 && w == [&b"http_access"[..], b"deny", b"all"] {
            deny_all = Some(i);
        }
        if let Some(first) = w.first() {
            let shown = String::from_utf8_lossy(trim_end(c));
            if ADAPTATION_DIRECTIVES.iter().any(|d| d.as_bytes() == *first) {
                warnings.push(format!(
                    "line {lineno} configures adaptation outside the managed block ({shown}): \
                     Squid applies the first matching adaptation_access rule of each vectoring \
                     point, and the last icap_enable wins; check that it does not override Bulwark"
                ));
            } else if w.iter().skip(1).any(|t| {
                let t = t.strip_prefix(b"!").unwrap_or(t);
                [RESP_SERVICE, REQ_SERVICE, GET_ACL]
                    .iter()
                    .any(|n| n.as_bytes() == t)
            }) {
                warnings.push(format!(
                    "line {lineno} uses a name the managed block defines ({shown})"
                ));
            }
        }
    }
    if let (Some(b), None) = (begin, end) {
        return Err(ApplyError::Markers {
            line: b + 1,
            reason: "'# BEGIN bulwark' without '# END bulwark' after it",
        });
    }

    let mut out: Vec<u8> = Vec::with_capacity(text.len() + block.len() + 2);
    let placement;
    if let (Some(b), Some(e)) = (begin, end) {
        for l in &lines[..b] {
            out.extend_from_slice(l.raw);
        }
        out.extend_from_slice(block.as_bytes());
        for l in &lines[e + 1..] {
            out.extend_from_slice(l.raw);
        }
        placement = Placement::Replaced { line: b + 1 };
    } else if let Some(d) = deny_all {
        // Keep the comment lines directly above `http_access deny all` with it.
        let mut at = d;
        while at > 0 && lines[at - 1].content.starts_with(b"#") {
            at -= 1;
        }
        for l in &lines[..at] {
            out.extend_from_slice(l.raw);
        }
        out.extend_from_slice(block.as_bytes());
        out.extend_from_slice(nl);
        for l in &lines[at..] {
            out.extend_from_slice(l.raw);
        }
        placement = Placement::BeforeDenyAll { line: d + 1 };
    } else {
        if continuing {
            return Err(ApplyError::TrailingContinuation);
        }
        out.extend_from_slice(text);
        if !text.is_empty() {
            if !text.ends_with(b"\n") {
                out.extend_from_slice(nl);
            }
            let last_blank = lines.last().is_some_and(|l| l.content.is_empty());
            if !last_blank {
                out.extend_from_slice(nl);
            }
        }
        out.extend_from_slice(block.as_bytes());
        placement = Placement::End;
    }
    let changed = out != text;
    Ok(Edit {
        text: out,
        changed,
        placement,
        warnings,
    })
}

fn trim_end(c: &[u8]) -> &[u8] {
    let mut c = c;
    while let Some((&last, rest)) = c.split_last() {
        if last.is_ascii_whitespace() {
            c = rest;
        } else {
            break;
        }
    }
    c
}

/// [`plan_edit`] on UTF-8 text: the new squid.conf content.
pub fn apply_to_text(text: &str, opts: &SnippetOptions) -> Result<String, ApplyError> {
    let edit = plan_edit(text.as_bytes(), opts)?;
    // The input was UTF-8 and the block is ASCII, and only whole lines are moved.
    String::from_utf8(edit.text).map_err(|_| ApplyError::Markers {
        line: 0,
        reason: "internal error: the edit produced invalid UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snippet::{SquidVersion, BEGIN_MARKER};

    const DEBIANISH: &str = "\
acl SSL_ports port 443
http_access deny !Safe_ports
http_access allow localhost manager

#http_access allow localnet
http_access allow localhost

# And finally deny all other access to this proxy
http_access deny all

#  TAG: http_port
http_port 3128
";

    fn opts() -> SnippetOptions {
        SnippetOptions::default()
    }

    #[test]
    fn inserts_before_deny_all_keeping_its_comment() {
        let out = apply_to_text(DEBIANISH, &opts()).unwrap();
        let block = snippet(&opts());
        let expected = DEBIANISH.replace(
            "# And finally deny all",
            &format!("{block}\n# And finally deny all"),
        );
        assert_eq!(out, expected);
        let e = plan_edit(DEBIANISH.as_bytes(), &opts()).unwrap();
        assert_eq!(e.placement, Placement::BeforeDenyAll { line: 9 });
        assert!(e.changed);
        assert!(e.warnings.is_empty());
    }

    #[test]
    fn idempotent_and_replaces_in_place() {
        let once = apply_to_text(DEBIANISH, &opts()).unwrap();
        let twice = apply_to_text(&once, &opts()).unwrap();
        assert_eq!(once, twice);
        let e = plan_edit(once.as_bytes(), &opts()).unwrap();
        assert!(!e.changed);
        assert_eq!(e.placement, Placement::Replaced { line: 8 });

        let other = SnippetOptions {
            bypass: true,
            reqmod_get: true,
            squid_version: SquidVersion::V3_0,
            ..opts()
        };
        let changed = apply_to_text(&once, &other).unwrap();
        assert_eq!(changed, apply_to_text(DEBIANISH, &other).unwrap());
        assert_eq!(changed.matches(BEGIN_MARKER_PREFIX).count(), 1);
        // and back
        assert_eq!(apply_to_text(&changed, &opts()).unwrap(), once);
    }

    #[test]
    fn appends_when_no_deny_all() {
        let e = plan_edit(b"http_port 3128", &opts()).unwrap();
        assert_eq!(e.placement, Placement::End);
        let s = String::from_utf8(e.text).unwrap();
        assert_eq!(s, format!("http_port 3128\n\n{}", snippet(&opts())));
        let s2 = apply_to_text("", &opts()).unwrap();
        assert_eq!(s2, snippet(&opts()));
        let s3 = apply_to_text("http_port 3128\n\n", &opts()).unwrap();
        assert_eq!(s3, format!("http_port 3128\n\n{}", snippet(&opts())));
        assert_eq!(apply_to_text(&s3, &opts()).unwrap(), s3);
    }

    #[test]
    fn deny_all_inside_conditional_or_continuation_is_not_used() {
        let t = "if ${process_number} = 1\nhttp_access deny all\nendif\nhttp_access allow all \\\n\nhttp_access deny all\nhttp_port 3128\n";
        let e = plan_edit(t.as_bytes(), &opts()).unwrap();
        assert_eq!(e.placement, Placement::End);
        let t2 = "if true\nhttp_access allow localhost\nendif\n  http_access   deny   all  \n";
        let e2 = plan_edit(t2.as_bytes(), &opts()).unwrap();
        assert_eq!(e2.placement, Placement::BeforeDenyAll { line: 4 });
    }

    #[test]
    fn trailing_continuation_is_refused() {
        let e = plan_edit(b"http_port 3128 \\\n# comment\n", &opts());
        assert!(matches!(e, Err(ApplyError::TrailingContinuation)));
    }

    #[test]
    fn bad_markers() {
        let b = format!("{BEGIN_MARKER}\nicap_enable on\n");
        assert!(matches!(
            plan_edit(b.as_bytes(), &opts()),
            Err(ApplyError::Markers { line: 1, .. })
        ));
        assert!(matches!(
            plan_edit(b"x y\n# END bulwark\n", &opts()),
            Err(ApplyError::Markers { line: 2, .. })
        ));
        let two = format!("{0}{0}", snippet(&opts()));
        assert!(matches!(
            plan_edit(two.as_bytes(), &opts()),
            Err(ApplyError::Markers { .. })
        ));
        let cont = format!("http_port 3128 \\\n{}", snippet(&opts()));
        assert!(matches!(
            plan_edit(cont.as_bytes(), &opts()),
            Err(ApplyError::Markers { line: 2, .. })
        ));
    }

    #[test]
    fn replaces_hand_edited_block_and_keeps_surroundings() {
        let t = "a b\n  # BEGIN bulwark (old wording)\nicap_enable off\n# END bulwark  \nc d\n";
        let out = apply_to_text(t, &opts()).unwrap();
        assert_eq!(out, format!("a b\n{}c d\n", snippet(&opts())));
    }

    #[test]
    fn warns_about_other_adaptation_lines() {
        let t = "icap_service av respmod_precache icap://x:1344/a\nadaptation_access av allow all\nhttp_access deny bulwark_get\n# icap_enable off\nhttp_port 3128\n";
        let e = plan_edit(t.as_bytes(), &opts()).unwrap();
        assert_eq!(e.warnings.len(), 3, "{:?}", e.warnings);
        assert!(e.warnings[0].starts_with("line 1 "));
        assert!(e.warnings[2].contains("name the managed block defines"));
        // Lines inside the block do not warn.
        let again = plan_edit(&e.text, &opts()).unwrap();
        assert_eq!(again.warnings.len(), 3);
    }

    #[test]
    fn crlf_files_stay_crlf_and_non_utf8_bytes_survive() {
        let t = b"http_port 3128\r\n# caf\xe9\r\nhttp_access deny all\r\n";
        let e = plan_edit(t, &opts()).unwrap();
        let block = snippet(&opts()).replace('\n', "\r\n");
        let mut expected = b"http_port 3128\r\n".to_vec();
        expected.extend_from_slice(block.as_bytes());
        expected.extend_from_slice(b"\r\n# caf\xe9\r\nhttp_access deny all\r\n");
        assert_eq!(e.text, expected);
        let again = plan_edit(&e.text, &opts()).unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn invalid_options_are_refused() {
        let o = SnippetOptions {
            address: Some("nope".into()),
            ..opts()
        };
        assert!(matches!(
            apply_to_text(DEBIANISH, &o),
            Err(ApplyError::Options(_))
        ));
    }
}
