//! Encoders: heads with a computed `Encapsulated` header, and chunked body framing.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use crate::encapsulated::{Encapsulated, Section};
use crate::{Headers, HttpRequestHead, HttpResponseHead, Request, Response};

/// Writes an ICAP response head: status line, headers, the `Encapsulated` header computed from
/// the HTTP heads present and `has_body`, the blank line, then the serialised HTTP heads.
/// Any `Encapsulated` field in `resp.headers` is ignored.
///
/// The body entry is `res-body` when an HTTP response head is present, else `req-body` when an
/// HTTP request head is present, else `opt-body` (an OPTIONS answer with a body); `null-body`
/// when `has_body` is false. A `100 Continue` without heads or body gets no `Encapsulated`
/// header at all, as usual among ICAP servers.
pub fn response_head(resp: &Response, out: &mut BytesMut) {
    let mut line = String::with_capacity(32);
    // Writing to a String cannot fail.
    let _ = write!(line, "ICAP/1.0 {} {}\r\n", resp.status, resp.reason);
    out.put_slice(line.as_bytes());
    let bare_continue = resp.status == 100
        && !resp.has_body
        && resp.http_request.is_none()
        && resp.http_response.is_none();
    let body = match (&resp.http_request, &resp.http_response) {
        (_, Some(_)) => Section::ResBody,
        (Some(_), None) => Section::ReqBody,
        (None, None) => Section::OptBody,
    };
    write_rest(
        &resp.headers,
        &[],
        (!bare_continue).then_some(body),
        resp.has_body,
        resp.http_request.as_ref(),
        resp.http_response.as_ref(),
        out,
    );
}

/// Writes an ICAP request head the same way (for clients, tests and benchmarks). The body
/// kind follows the method: `req-body` for REQMOD, `res-body` for RESPMOD, `opt-body` for
/// OPTIONS.
///
/// `Preview: n` is written from `req.preview`; `Encapsulated` and `Preview` fields in
/// `req.headers` are ignored. An OPTIONS request without body gets no `Encapsulated` header.
pub fn request_head(req: &Request, out: &mut BytesMut) {
    out.put_slice(req.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(req.uri.as_bytes());
    out.put_slice(b" ICAP/1.0\r\n");
    let body = match req.method {
        crate::Method::Options => Section::OptBody,
        crate::Method::Reqmod => Section::ReqBody,
        crate::Method::Respmod => Section::ResBody,
    };
    let options_without_body = req.method == crate::Method::Options
        && !req.has_body
        && req.http_request.is_none()
        && req.http_response.is_none();
    let preview = req.preview.map(|n| n.to_string());
    let extra: Vec<(&str, &str)> = preview.iter().map(|n| ("Preview", n.as_str())).collect();
    write_rest(
        &req.headers,
        &extra,
        (!options_without_body).then_some(body),
        req.has_body,
        req.http_request.as_ref(),
        req.http_response.as_ref(),
        out,
    );
}

/// Writes the header fields (minus `Encapsulated` and any field named in `extra`), `extra`,
/// the computed `Encapsulated` (unless `body` is `None`), the blank line and the HTTP heads.
fn write_rest(
    headers: &Headers,
    extra: &[(&str, &str)],
    body: Option<Section>,
    has_body: bool,
    http_req: Option<&HttpRequestHead>,
    http_res: Option<&HttpResponseHead>,
    out: &mut BytesMut,
) {
    let req_bytes = http_req.map(HttpRequestHead::to_bytes);
    let res_bytes = http_res.map(HttpResponseHead::to_bytes);
    let skip = |n: &str| {
        n.eq_ignore_ascii_case("Encapsulated")
            || extra.iter().any(|(e, _)| n.eq_ignore_ascii_case(e))
    };
    let mut fields = Vec::with_capacity(256);
    for (n, v) in headers.iter().filter(|(n, _)| !skip(n)) {
        fields.extend_from_slice(n.as_bytes());
        fields.extend_from_slice(b": ");
        fields.extend_from_slice(v.as_bytes());
        fields.extend_from_slice(b"\r\n");
    }
    for (n, v) in extra {
        fields.extend_from_slice(n.as_bytes());
        fields.extend_from_slice(b": ");
        fields.extend_from_slice(v.as_bytes());
        fields.extend_from_slice(b"\r\n");
    }
    out.put_slice(&fields);
    if let Some(body) = body {
        let req_len = req_bytes.as_ref().map_or(0, Vec::len);
        let res_len = res_bytes.as_ref().map_or(0, Vec::len);
        let encap = Encapsulated {
            req_hdr: req_bytes.as_ref().map(|_| 0),
            res_hdr: res_bytes.as_ref().map(|_| req_len),
            body: if has_body { body } else { Section::NullBody },
            body_offset: req_len + res_len,
        };
        out.put_slice(format!("Encapsulated: {encap}\r\n").as_bytes());
    }
    out.put_slice(b"\r\n");
    if let Some(b) = req_bytes {
        out.put_slice(&b);
    }
    if let Some(b) = res_bytes {
        out.put_slice(&b);
    }
}

/// Writes one body chunk (`<hex size>\r\n<data>\r\n`); an empty `data` writes nothing.
pub fn chunk(data: &[u8], out: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    out.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Writes the last chunk: `0\r\n\r\n`.
pub fn last_chunk(out: &mut BytesMut) {
    out.put_slice(b"0\r\n\r\n");
}

/// Writes the last chunk of a preview that holds the whole body: `0; ieof\r\n\r\n`.
pub fn ieof_chunk(out: &mut BytesMut) {
    out.put_slice(b"0; ieof\r\n\r\n");
}

/// Writes the last chunk of a 206 answer: `0; use-original-body=N\r\n\r\n`.
pub fn use_original_body(offset: u64, out: &mut BytesMut) {
    out.put_slice(format!("0; use-original-body={offset}\r\n\r\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Headers, HttpResponseHead, Method};

    fn text(b: &BytesMut) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    fn res_head() -> HttpResponseHead {
        let mut headers = Headers::new();
        headers.append("Content-Type", "text/html");
        HttpResponseHead {
            version: "HTTP/1.1".into(),
            status: 403,
            reason: "Forbidden".into(),
            headers,
        }
    }

    #[test]
    fn response_encapsulated_offsets() {
        let mut r = Response::new(200, "OK");
        r.headers.append("ISTag", "\"x\"");
        r.headers.append("Encapsulated", "bogus");
        r.http_response = Some(res_head());
        r.has_body = true;
        let mut out = BytesMut::new();
        response_head(&r, &mut out);
        let head_len = res_head().to_bytes().len();
        assert_eq!(
            text(&out),
            format!(
                "ICAP/1.0 200 OK\r\nISTag: \"x\"\r\nEncapsulated: res-hdr=0, res-body={head_len}\r\n\r\n\
                 HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n\r\n"
            )
        );
        r.has_body = false;
        out.clear();
        response_head(&r, &mut out);
        assert!(text(&out).contains(&format!(
            "Encapsulated: res-hdr=0, null-body={head_len}\r\n"
        )));
    }

    #[test]
    fn head_only_and_continue() {
        let mut out = BytesMut::new();
        response_head(&Response::new(204, "No Content"), &mut out);
        assert_eq!(
            text(&out),
            "ICAP/1.0 204 No Content\r\nEncapsulated: null-body=0\r\n\r\n"
        );
        out.clear();
        response_head(&Response::new(100, "Continue"), &mut out);
        assert_eq!(text(&out), "ICAP/1.0 100 Continue\r\n\r\n");
        out.clear();
        let mut opts = Response::new(200, "OK");
        opts.has_body = true;
        response_head(&opts, &mut out);
        assert!(text(&out).contains("Encapsulated: opt-body=0\r\n"));
    }

    #[test]
    fn request_encapsulated_and_preview() {
        let req = Request {
            method: Method::Respmod,
            uri: "icap://127.0.0.1:1344/av".into(),
            service: "/av".into(),
            headers: Headers::new(),
            http_request: Some(crate::HttpRequestHead {
                method: "GET".into(),
                uri: "http://e.x/".into(),
                version: "HTTP/1.1".into(),
                headers: Headers::new(),
            }),
            http_response: Some(res_head()),
            has_body: true,
            preview: Some(1024),
        };
        let mut out = BytesMut::new();
        request_head(&req, &mut out);
        let q = req.http_request.as_ref().unwrap().to_bytes().len();
        let s = res_head().to_bytes().len();
        assert!(text(&out).starts_with(&format!(
            "RESPMOD icap://127.0.0.1:1344/av ICAP/1.0\r\nPreview: 1024\r\n\
             Encapsulated: req-hdr=0, res-hdr={q}, res-body={}\r\n\r\nGET http://e.x/ HTTP/1.1\r\n",
            q + s
        )));
    }

    #[test]
    fn chunks() {
        let mut out = BytesMut::new();
        chunk(b"", &mut out);
        assert!(out.is_empty());
        chunk(&[b'a'; 26], &mut out);
        assert!(text(&out).starts_with("1a\r\naaaa"));
        assert!(text(&out).ends_with("a\r\n"));
        out.clear();
        last_chunk(&mut out);
        ieof_chunk(&mut out);
        use_original_body(42, &mut out);
        assert_eq!(
            text(&out),
            "0\r\n\r\n0; ieof\r\n\r\n0; use-original-body=42\r\n\r\n"
        );
    }
}
