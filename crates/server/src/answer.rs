//! Builds the bytes of every ICAP answer the server sends.

use bulwark_engine::Verdict;
use bulwark_icap::{encode, Headers, HttpResponseHead, Request, Response};
use bytes::BytesMut;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// The product name and version, as sent in `Service` and `Server` headers.
pub const PRODUCT: &str = concat!("Bulwark/", env!("CARGO_PKG_VERSION"));

/// Headers every response carries: ISTag, Server, Date, and `Connection: close` when closing.
fn base_headers(istag: &str, close: bool) -> Headers {
    let mut h = Headers::new();
    h.append("ISTag", istag);
    h.append("Server", PRODUCT);
    h.append("Date", httpdate_now());
    if close {
        h.append("Connection", "close");
    }
    h
}

/// The current time as an HTTP date (RFC 9110 IMF-fixdate).
pub fn httpdate_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    httpdate(secs)
}

/// Seconds since the epoch as a UTC date and time (the epoch itself past `time`'s range, the
/// year 9999).
pub(crate) fn utc(secs: u64) -> OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 9110's IMF-fixdate, e.g. `Tue, 14 Nov 2023 22:13:20 GMT`.
const IMF_FIXDATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Formats seconds since the epoch as an IMF-fixdate.
pub fn httpdate(secs: u64) -> String {
    utc(secs).format(IMF_FIXDATE).unwrap_or_default()
}

/// What an OPTIONS answer advertises for one service.
#[derive(Debug, Clone)]
pub struct OptionsInfo<'a> {
    /// `RESPMOD` or `REQMOD`.
    pub method: &'a str,
    /// The ISTag.
    pub istag: &'a str,
    /// `Max-Connections`.
    pub max_connections: usize,
    /// `Options-TTL` in seconds.
    pub ttl_secs: u64,
    /// `Preview` size; 0 leaves preview off.
    pub preview: usize,
    /// `Transfer-Complete` extensions.
    pub transfer_complete: &'a [String],
    /// `Transfer-Ignore` extensions.
    pub transfer_ignore: &'a [String],
}

/// The OPTIONS answer (RFC 3507 §4.10).
pub fn options(info: &OptionsInfo<'_>, out: &mut BytesMut) {
    let mut r = Response::new(200, "OK");
    r.headers = base_headers(info.istag, false);
    r.headers.append("Methods", info.method);
    r.headers.append("Service", format!("{PRODUCT} anti-virus"));
    r.headers.append("Service-ID", "bulwark");
    r.headers
        .append("Max-Connections", info.max_connections.to_string());
    r.headers.append("Options-TTL", info.ttl_secs.to_string());
    r.headers.append("Allow", "204, 206");
    // The verdict headers Bulwark may send (draft-stecher-icap-subid); e2guardian names the
    // threat on its block page only when they are announced here.
    r.headers.append(
        "X-Allow-Out",
        "X-Infection-Found, X-Virus-ID, X-Violations-Found",
    );
    if info.preview > 0 {
        r.headers.append("Preview", info.preview.to_string());
        r.headers.append("Transfer-Preview", "*");
    }
    if !info.transfer_ignore.is_empty() {
        r.headers
            .append("Transfer-Ignore", info.transfer_ignore.join(", "));
    }
    if !info.transfer_complete.is_empty() {
        r.headers
            .append("Transfer-Complete", info.transfer_complete.join(", "));
    }
    encode::response_head(&r, out);
}

/// An error answer without body; the connection is closed after it when `close`.
pub fn error(status: u16, reason: &str, istag: &str, close: bool, out: &mut BytesMut) {
    let mut r = Response::new(status, reason);
    r.headers = base_headers(istag, close);
    encode::response_head(&r, out);
}

/// `100 Continue` after a preview.
pub fn continue_100(out: &mut BytesMut) {
    out.extend_from_slice(b"ICAP/1.0 100 Continue\r\n\r\n");
}

/// `204 No Content`: deliver the object unmodified.
pub fn no_content(istag: &str, out: &mut BytesMut) {
    let mut r = Response::new(204, "No Content");
    r.headers = base_headers(istag, false);
    encode::response_head(&r, out);
}

/// `206 Partial Content` for a preview: the (possibly marked) heads, and the whole original
/// body (`use-original-body=0`), so a large object is not echoed back.
pub fn use_original(req: &Request, istag: &str, uncacheable: bool, out: &mut BytesMut) {
    let mut r = Response::new(206, "Partial Content");
    r.headers = base_headers(istag, false);
    r.http_request = req
        .http_request
        .clone()
        .filter(|_| req.http_response.is_none());
    r.http_response = req.http_response.clone().map(|h| mark(h, uncacheable));
    r.has_body = true;
    encode::response_head(&r, out);
    encode::use_original_body(0, out);
}

/// The head of a `200 OK` that echoes the original message; its body follows as chunks.
/// A message without body gets a head-only answer.
pub fn echo_head(req: &Request, istag: &str, uncacheable: bool, out: &mut BytesMut) {
    let mut r = Response::new(200, "OK");
    r.headers = base_headers(istag, false);
    r.http_request = req
        .http_request
        .clone()
        .filter(|_| req.http_response.is_none());
    r.http_response = req.http_response.clone().map(|h| mark(h, uncacheable));
    r.has_body = req.has_body;
    encode::response_head(&r, out);
}

/// Makes an HTTP response uncacheable when asked (SPEC F-POL-6).
fn mark(mut h: HttpResponseHead, uncacheable: bool) -> HttpResponseHead {
    if uncacheable {
        h.headers.set("Cache-Control", "private, no-store");
    }
    h
}

/// The head of a `200 OK` that delivers a cured copy: the original HTTP head with the new
/// length (and without `Content-Encoding` when the cure worked on the decoded body), plus the
/// verdict headers with `Resolution=1` (repaired).
pub fn cured_head(
    req: &Request,
    istag: &str,
    verdict: &Verdict,
    len: u64,
    decoded: bool,
    out: &mut BytesMut,
) {
    let mut r = Response::new(200, "OK");
    r.headers = base_headers(istag, false);
    let names: Vec<&str> = verdict.threats.iter().map(|t| t.name.as_str()).collect();
    r.headers.append(
        "X-Infection-Found",
        format!("Type=0; Resolution=1; Threat={};", names.join(", ")),
    );
    let fix = |h: &mut Headers| {
        h.set("Content-Length", len.to_string());
        h.remove("Transfer-Encoding");
        h.remove("ETag");
        h.remove("Content-MD5");
        if decoded {
            h.remove("Content-Encoding");
        }
    };
    match (&req.http_response, &req.http_request) {
        (Some(res), _) => {
            let mut res = res.clone();
            fix(&mut res.headers);
            r.http_response = Some(res);
        }
        (None, Some(rq)) => {
            let mut rq = rq.clone();
            fix(&mut rq.headers);
            r.http_request = Some(rq);
        }
        (None, None) => {}
    }
    r.has_body = true;
    encode::response_head(&r, out);
}

/// Verdict headers (SPEC F-ICAP-8) for a modified answer.
pub fn verdict_headers(verdict: &Verdict, h: &mut Headers) {
    let first = verdict.label();
    // Type=0: infection; Resolution=2: file not repaired, blocked (draft-stecher-icap-subid).
    h.append(
        "X-Infection-Found",
        format!("Type=0; Resolution=2; Threat={first};"),
    );
    h.append("X-Virus-ID", first.to_string());
    let mut v = format!("{}", verdict.threats.len().max(1));
    for t in &verdict.threats {
        v.push_str(&format!(
            "\r\n\t{}\r\n\t{}\r\n\t0\r\n\t0",
            if t.path.is_empty() { "-" } else { &t.path },
            t.name
        ));
    }
    if verdict.threats.is_empty() {
        v.push_str(&format!("\r\n\t-\r\n\t{first}\r\n\t0\r\n\t0"));
    }
    h.append("X-Violations-Found", v);
}

/// A complete `200 OK` carrying an HTTP 403 block page (`html`) in place of the object, with
/// the verdict headers.
pub fn block_page(istag: &str, verdict: &Verdict, html: &str, lang: &str, out: &mut BytesMut) {
    let mut r = Response::new(200, "OK");
    r.headers = base_headers(istag, false);
    verdict_headers(verdict, &mut r.headers);
    let mut http = HttpResponseHead {
        version: "HTTP/1.1".into(),
        status: 403,
        reason: "Forbidden".into(),
        headers: Headers::new(),
    };
    http.headers
        .append("Content-Type", "text/html; charset=utf-8");
    http.headers
        .append("Content-Length", html.len().to_string());
    http.headers.append("Content-Language", lang);
    http.headers.append("Cache-Control", "no-store");
    http.headers.append("Connection", "close");
    r.http_response = Some(http);
    r.has_body = true;
    encode::response_head(&r, out);
    encode::chunk(html.as_bytes(), out);
    encode::last_chunk(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(httpdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(httpdate(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(httpdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(httpdate(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
    }

    #[test]
    fn verdict_headers_name_an_error_by_its_detail() {
        let mut h = Headers::default();
        verdict_headers(
            &Verdict::error(bulwark_engine::ErrorDetail::PartialRefused),
            &mut h,
        );
        assert_eq!(h.get("X-Virus-ID"), Some("PARTIAL"));
        assert_eq!(
            h.get("X-Infection-Found"),
            Some("Type=0; Resolution=2; Threat=PARTIAL;")
        );
    }
}
