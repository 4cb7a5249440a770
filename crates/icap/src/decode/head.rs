//! Head syntax shared by ICAP and encapsulated HTTP heads: finding the blank line, splitting
//! lines, header fields and start lines.

use crate::{Error, ErrorKind, Headers, Method};

/// Shorthand for a [`ErrorKind::BadRequest`] error.
pub(crate) fn bad(reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadRequest, reason)
}

/// Finds the end of a head (the index just past its blank line), looking at line ends at or
/// after `from`. Line ends are CRLF or a bare LF. `None` means no blank line yet.
///
/// When it returns `None` for `buf`, a later call on a longer buffer with the same start may
/// pass `from = buf.len().saturating_sub(2)` without missing an end.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut pos = from.min(buf.len());
    while let Some(i) = memchr::memchr(b'\n', &buf[pos..]) {
        let nl = pos + i;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => {}
        }
        pos = nl + 1;
    }
    None
}

/// Splits a complete head (as delimited by [`find_head_end`]) into its lines, without line
/// ends and without the final blank line. Rejects NUL bytes and bare CRs.
pub(crate) fn split_lines(head: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut lines = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&b'\r') {
            return Err(bad("bare CR inside a header line"));
        }
        if line.contains(&0) {
            return Err(bad("NUL byte in a header line"));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True for a non-empty run of `tchar`s.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// How picky [`parse_fields`] is about field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    /// ICAP heads: no control characters except HTAB.
    Strict,
    /// ICAP response heads: strict values, but obsolete line folding is unfolded, since
    /// servers such as c-icap fold `X-Violations-Found` (Squid accepts it too).
    StrictFolded,
    /// Encapsulated HTTP heads and trailers (third-party traffic): only NUL and CR are
    /// refused (both already by [`split_lines`]); bytes that are not UTF-8 become U+FFFD.
    Lenient,
}

/// Parses header field lines into [`Headers`], enforcing `max_fields`.
pub(crate) fn parse_fields(
    lines: &[&[u8]],
    max_fields: usize,
    values: Values,
    what: &str,
) -> Result<Headers, Error> {
    if lines.len() > max_fields {
        return Err(Error::new(
            ErrorKind::HeaderTooLarge,
            format!(
                "{what} has {} header fields, limit is {max_fields}",
                lines.len()
            ),
        ));
    }
    let mut fields: Vec<(String, String)> = Vec::with_capacity(lines.len());
    for line in lines {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            match fields.last_mut() {
                Some((_, v)) if values == Values::StrictFolded => {
                    let more = trim_ows(line);
                    if more.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
                        return Err(bad(format!("{what}: control character in a folded line")));
                    }
                    v.push(' ');
                    v.push_str(&String::from_utf8_lossy(more));
                    continue;
                }
                _ => {
                    return Err(bad(format!(
                        "{what}: folded header lines are not supported"
                    )))
                }
            }
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(bad(format!(
                "{what}: header line without ':': {:?}",
                excerpt(line)
            )));
        };
        let name = &line[..colon];
        if !is_token(name) {
            return Err(bad(format!(
                "{what}: invalid header name {:?}",
                excerpt(name)
            )));
        }
        let value = trim_ows(&line[colon + 1..]);
        if values != Values::Lenient && value.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
            return Err(bad(format!(
                "{what}: control character in the value of {}",
                String::from_utf8_lossy(name)
            )));
        }
        fields.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    let mut headers = Headers::new();
    for (n, v) in fields {
        headers.append(n, v);
    }
    Ok(headers)
}

/// Strips leading and trailing SP/HTAB.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A short, printable excerpt of raw bytes for error reasons.
pub(crate) fn excerpt(b: &[u8]) -> String {
    let cut = &b[..b.len().min(64)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if b.len() > cut.len() {
        s.push('…');
    }
    s
}

/// Splits a start line into exactly three parts separated by single spaces; the third part
/// may contain spaces when `rest_free` is set (a reason phrase).
fn three_parts<'a>(line: &'a [u8], what: &str, rest_free: bool) -> Result<[&'a [u8]; 3], Error> {
    let mut it = line.splitn(3, |&b| b == b' ');
    let (Some(a), Some(b)) = (it.next(), it.next()) else {
        return Err(bad(format!("malformed {what}: {:?}", excerpt(line))));
    };
    let c = it.next();
    match c {
        Some(c) if rest_free || (!c.is_empty() && !c.contains(&b' ')) => Ok([a, b, c]),
        None if rest_free => Ok([a, b, b""]),
        _ => Err(bad(format!("malformed {what}: {:?}", excerpt(line)))),
    }
}

/// True for `NAME/d.d` (an upper-case protocol name, one-digit major and minor).
fn looks_like_version(v: &[u8]) -> bool {
    match v.iter().position(|&b| b == b'/') {
        Some(slash) => {
            let (name, num) = (&v[..slash], &v[slash + 1..]);
            !name.is_empty()
                && name.iter().all(|b| b.is_ascii_uppercase())
                && num.len() == 3
                && num[0].is_ascii_digit()
                && num[1] == b'.'
                && num[2].is_ascii_digit()
        }
        None => false,
    }
}

/// Checks an ICAP version: `ICAP/1.0` passes, another well-formed version is 505, anything
/// else is 400.
fn check_icap_version(v: &[u8]) -> Result<(), Error> {
    if v == b"ICAP/1.0" {
        Ok(())
    } else if looks_like_version(v) {
        Err(Error::new(
            ErrorKind::VersionNotSupported,
            format!("version {} not supported, only ICAP/1.0", excerpt(v)),
        ))
    } else {
        Err(bad(format!("malformed ICAP version {:?}", excerpt(v))))
    }
}

/// The parts of an ICAP request line.
#[derive(Debug)]
pub(crate) struct IcapRequestLine {
    pub method: Method,
    pub uri: String,
    pub service: String,
}

/// Parses `METHOD icap://host[:port]/path[?query] ICAP/1.0`.
pub(crate) fn parse_icap_request_line(line: &[u8]) -> Result<IcapRequestLine, Error> {
    let [method, uri, version] = three_parts(line, "ICAP request line", false)?;
    if !is_token(method) {
        return Err(bad(format!("malformed ICAP method {:?}", excerpt(method))));
    }
    check_icap_version(version)?;
    let method = match method {
        b"OPTIONS" => Method::Options,
        b"REQMOD" => Method::Reqmod,
        b"RESPMOD" => Method::Respmod,
        other => {
            return Err(Error::new(
                ErrorKind::MethodNotImplemented,
                format!("method {} not implemented", excerpt(other)),
            ))
        }
    };
    let service = parse_icap_uri(uri)?;
    // parse_icap_uri accepted only visible ASCII, so this is lossless.
    let uri = String::from_utf8_lossy(uri).into_owned();
    Ok(IcapRequestLine {
        method,
        uri,
        service,
    })
}

/// Checks an ICAP URI (`icap://authority/path?query`, `icaps://…`, or an absolute path) and
/// returns its path without the query (`/` when empty).
fn parse_icap_uri(uri: &[u8]) -> Result<String, Error> {
    let invalid = |why: &str| bad(format!("invalid ICAP URI {:?}: {why}", excerpt(uri)));
    if uri.is_empty() || !uri.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(invalid("empty or not visible ASCII"));
    }
    let rest = if uri.starts_with(b"/") {
        uri
    } else {
        let scheme_end = uri
            .windows(3)
            .position(|w| w == b"://")
            .ok_or_else(|| invalid("expected icap://"))?;
        let scheme = &uri[..scheme_end];
        if !scheme.eq_ignore_ascii_case(b"icap") && !scheme.eq_ignore_ascii_case(b"icaps") {
            return Err(invalid("scheme is not icap or icaps"));
        }
        let after = &uri[scheme_end + 3..];
        let auth_end = after
            .iter()
            .position(|&b| b == b'/' || b == b'?' || b == b'#')
            .unwrap_or(after.len());
        check_authority(&after[..auth_end]).map_err(invalid)?;
        &after[auth_end..]
    };
    let path_end = rest
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    let path = &rest[..path_end];
    Ok(if path.is_empty() {
        "/".to_string()
    } else {
        String::from_utf8_lossy(path).into_owned()
    })
}

/// Checks `host[:port]`, `[v6]:port`, with an optional `userinfo@` refused.
fn check_authority(auth: &[u8]) -> Result<(), &'static str> {
    if auth.is_empty() {
        return Err("empty host");
    }
    if auth.contains(&b'@') {
        return Err("user info not allowed");
    }
    let (host, port) = if let Some(stripped) = auth.strip_prefix(b"[") {
        let close = stripped
            .iter()
            .position(|&b| b == b']')
            .ok_or("unclosed IPv6 literal")?;
        let host = &stripped[..close];
        if host.is_empty()
            || !host
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("bad IPv6 literal");
        }
        match &stripped[close + 1..] {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return Err("junk after IPv6 literal"),
        }
    } else {
        match auth.iter().position(|&b| b == b':') {
            Some(c) => (&auth[..c], Some(&auth[c + 1..])),
            None => (auth, None),
        }
    };
    if host.is_empty() {
        return Err("empty host");
    }
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.len() <= 5
            && port.iter().all(|b| b.is_ascii_digit())
            && std::str::from_utf8(port)
                .ok()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| p <= 65535);
        if !ok {
            return Err("bad port");
        }
    }
    Ok(())
}

/// Parses `ICAP/1.0 <code> <reason>` (the reason may be empty or absent).
pub(crate) fn parse_icap_status_line(line: &[u8]) -> Result<(u16, String), Error> {
    let [version, code, reason] = three_parts(line, "ICAP status line", true)?;
    check_icap_version(version)?;
    let status =
        parse_status(code).ok_or_else(|| bad(format!("bad ICAP status {:?}", excerpt(code))))?;
    Ok((status, String::from_utf8_lossy(reason).into_owned()))
}

/// A three-digit status code, 100 to 999.
fn parse_status(code: &[u8]) -> Option<u16> {
    if code.len() != 3 || !code.iter().all(|b| b.is_ascii_digit()) || code[0] == b'0' {
        return None;
    }
    Some(code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// Parses an HTTP request line `METHOD target HTTP/x.y`.
pub(crate) fn parse_http_request_line(line: &[u8]) -> Result<(String, String, String), Error> {
    let [method, target, version] = three_parts(line, "HTTP request line", false)?;
    if !is_token(method) {
        return Err(bad(format!("malformed HTTP method {:?}", excerpt(method))));
    }
    if target.is_empty() || target.iter().any(|&b| b.is_ascii_control()) {
        return Err(bad(format!(
            "malformed HTTP request target {:?}",
            excerpt(target)
        )));
    }
    if !looks_like_version(version) {
        return Err(bad(format!(
            "malformed HTTP version {:?}",
            excerpt(version)
        )));
    }
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        String::from_utf8_lossy(version).into_owned(),
    ))
}

/// Parses an HTTP status line `HTTP/x.y code reason`.
pub(crate) fn parse_http_status_line(line: &[u8]) -> Result<(String, u16, String), Error> {
    let [version, code, reason] = three_parts(line, "HTTP status line", true)?;
    if !looks_like_version(version) {
        return Err(bad(format!(
            "malformed HTTP version {:?}",
            excerpt(version)
        )));
    }
    let status =
        parse_status(code).ok_or_else(|| bad(format!("bad HTTP status {:?}", excerpt(code))))?;
    if reason.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
        return Err(bad("control character in the HTTP reason phrase"));
    }
    Ok((
        String::from_utf8_lossy(version).into_owned(),
        status,
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_with_crlf_lf_and_mixed() {
        assert_eq!(find_head_end(b"A\r\nB: c\r\n\r\nrest", 0), Some(11));
        assert_eq!(find_head_end(b"A\nB: c\n\nrest", 0), Some(8));
        assert_eq!(find_head_end(b"A\r\nB: c\n\r\nrest", 0), Some(10));
        assert_eq!(find_head_end(b"A\r\nB: c\r\n\r", 0), None);
        assert_eq!(find_head_end(b"A\r\nB: c\r\n", 0), None);
        // Resuming from len - 2 finds an end split across calls.
        let full = b"A\r\nB: c\r\n\r\n";
        for cut in 0..full.len() {
            let first = find_head_end(&full[..cut], 0);
            assert_eq!(first, None);
            assert_eq!(find_head_end(full, cut.saturating_sub(2)), Some(full.len()));
        }
    }

    #[test]
    fn lines_reject_bare_cr_and_nul() {
        assert_eq!(
            split_lines(b"A\r\nB: c\r\n\r\n").unwrap(),
            vec![&b"A"[..], b"B: c"]
        );
        assert!(split_lines(b"A\rB\r\n\r\n")
            .unwrap_err()
            .reason
            .contains("bare CR"));
        assert!(split_lines(b"A\0\r\n\r\n")
            .unwrap_err()
            .reason
            .contains("NUL"));
    }

    #[test]
    fn fields() {
        let lines: Vec<&[u8]> = vec![b"Host: x", b"Allow:204,  trailers \t", b"X-Empty:"];
        let h = parse_fields(&lines, 10, Values::Strict, "ICAP head").unwrap();
        assert_eq!(h.get("allow"), Some("204,  trailers"));
        assert_eq!(h.get("x-empty"), Some(""));
        let e = parse_fields(&lines, 2, Values::Strict, "ICAP head").unwrap_err();
        assert_eq!(e.kind, ErrorKind::HeaderTooLarge);
        for bad_line in [
            &b"Host : x"[..],
            b" folded",
            b"NoColon",
            b": x",
            b"H\x01: v",
        ] {
            let e = parse_fields(&[bad_line], 10, Values::Strict, "ICAP head").unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadRequest, "{bad_line:?}");
        }
        assert!(parse_fields(&[b"H: a\x01b"], 10, Values::Strict, "x").is_err());
        let h = parse_fields(&[b"H: a\x01b\xff"], 10, Values::Lenient, "x").unwrap();
        assert_eq!(h.get("h"), Some("a\u{1}b\u{fffd}"));
    }

    #[test]
    fn response_heads_unfold_obsolete_folding() {
        let lines: [&[u8]; 3] = [b"X-Violations-Found: 1", b"\tfile", b"\tEicar"];
        let h = parse_fields(&lines, 10, Values::StrictFolded, "ICAP head").unwrap();
        assert_eq!(h.get("X-Violations-Found"), Some("1 file Eicar"));
        assert!(parse_fields(&lines, 10, Values::Strict, "ICAP head").is_err());
        assert!(parse_fields(&[b" x"], 10, Values::StrictFolded, "ICAP head").is_err());
        assert!(parse_fields(&[b"A: b", b" \x01"], 10, Values::StrictFolded, "x").is_err());
    }

    #[test]
    fn icap_request_lines() {
        let l = parse_icap_request_line(b"RESPMOD icap://127.0.0.1:1344/av/respmod?x=1 ICAP/1.0")
            .unwrap();
        assert_eq!(l.method, Method::Respmod);
        assert_eq!(l.service, "/av/respmod");
        assert_eq!(l.uri, "icap://127.0.0.1:1344/av/respmod?x=1");
        assert_eq!(
            parse_icap_request_line(b"OPTIONS icap://h ICAP/1.0")
                .unwrap()
                .service,
            "/"
        );
        assert_eq!(
            parse_icap_request_line(b"REQMOD icaps://[::1]:11344/req ICAP/1.0")
                .unwrap()
                .service,
            "/req"
        );
        let kind = |l: &[u8]| parse_icap_request_line(l).unwrap_err().kind;
        assert_eq!(
            kind(b"GET icap://h/ ICAP/1.0"),
            ErrorKind::MethodNotImplemented
        );
        assert_eq!(
            kind(b"respmod icap://h/ ICAP/1.0"),
            ErrorKind::MethodNotImplemented
        );
        assert_eq!(
            kind(b"REQMOD icap://h/ ICAP/1.1"),
            ErrorKind::VersionNotSupported
        );
        assert_eq!(kind(b"GET / HTTP/1.1"), ErrorKind::VersionNotSupported);
        assert_eq!(kind(b"REQMOD icap://h/ ICAP/1.0 "), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQMOD  icap://h/ ICAP/1.0"), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQMOD icap://h/"), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQMOD icap://h/ icap/1.0"), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQMOD http://h/ ICAP/1.0"), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQMOD icap:///x ICAP/1.0"), ErrorKind::BadRequest);
        assert_eq!(
            kind(b"REQMOD icap://h:99999/x ICAP/1.0"),
            ErrorKind::BadRequest
        );
        assert_eq!(kind(b"REQMOD icap://h:/x ICAP/1.0"), ErrorKind::BadRequest);
        assert_eq!(kind(b"REQ(MOD icap://h/x ICAP/1.0"), ErrorKind::BadRequest);
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_icap_status_line(b"ICAP/1.0 204 No Content").unwrap(),
            (204, "No Content".to_string())
        );
        assert_eq!(
            parse_icap_status_line(b"ICAP/1.0 100").unwrap(),
            (100, String::new())
        );
        assert!(parse_icap_status_line(b"ICAP/1.0 20 OK").is_err());
        assert!(parse_icap_status_line(b"ICAP/1.0 099 OK").is_err());
        let h = parse_http_status_line(b"HTTP/1.1 200 OK").unwrap();
        assert_eq!(h, ("HTTP/1.1".into(), 200, "OK".into()));
        assert!(parse_http_status_line(b"HTTP/1.1 2000 OK").is_err());
        assert!(parse_http_status_line(b"HTTP/x 200 OK").is_err());
        let r = parse_http_request_line(b"GET http://example.com/a?b HTTP/1.1").unwrap();
        assert_eq!(r.1, "http://example.com/a?b");
        assert!(parse_http_request_line(b"GET  / HTTP/1.1").is_err());
        assert!(parse_http_request_line(b"GET / HTTP/1.1 x").is_err());
    }
}
