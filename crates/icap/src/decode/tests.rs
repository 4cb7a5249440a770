//! Unit tests of the decoders with Squid-shaped messages.

use bytes::BytesMut;

use super::*;
use crate::{ErrorKind, Method};

/// What a decoder produced for a whole input, body pieces merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ev {
    Head(Box<Request>),
    Body(Vec<u8>),
    PreviewEnd,
    End { ieof: bool, trailers: Headers },
}

/// Pushes an event, merging consecutive body pieces.
fn push(evs: &mut Vec<Ev>, ev: Ev) {
    if let (Some(Ev::Body(prev)), Ev::Body(more)) = (evs.last_mut(), &ev) {
        prev.extend_from_slice(more);
        return;
    }
    evs.push(ev);
}

/// Feeds `pieces` one after another to a fresh decoder, decoding as far as possible after
/// each, answering `PreviewEnd` with `continue_body`. Returns the events and the first error.
pub(super) fn drive_requests(pieces: &[&[u8]], limits: Limits) -> (Vec<Ev>, Option<Error>) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut evs = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match d.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(ev)) => {
                    let ev = match ev {
                        RequestEvent::Head(r) => Ev::Head(r),
                        RequestEvent::Body(b) => {
                            assert!(!b.is_empty(), "empty Body event");
                            Ev::Body(b.to_vec())
                        }
                        RequestEvent::PreviewEnd => {
                            d.continue_body();
                            Ev::PreviewEnd
                        }
                        RequestEvent::End { ieof, trailers } => Ev::End { ieof, trailers },
                    };
                    push(&mut evs, ev);
                }
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(d.decode(&mut buf).unwrap_err(), e);
                    return (evs, Some(e));
                }
            }
        }
    }
    (evs, None)
}

/// Response-side events, body pieces merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum REv {
    Head(Box<Response>),
    Body(Vec<u8>),
    End {
        use_original_body: Option<u64>,
        trailers: Headers,
    },
}

pub(super) fn drive_responses(pieces: &[&[u8]], limits: Limits) -> (Vec<REv>, Option<Error>) {
    let mut d = ResponseDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut evs: Vec<REv> = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match d.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(ResponseEvent::Body(b))) => {
                    assert!(!b.is_empty(), "empty Body event");
                    if let Some(REv::Body(prev)) = evs.last_mut() {
                        prev.extend_from_slice(&b);
                    } else {
                        evs.push(REv::Body(b.to_vec()));
                    }
                }
                Ok(Some(ResponseEvent::Head(h))) => evs.push(REv::Head(h)),
                Ok(Some(ResponseEvent::End {
                    use_original_body,
                    trailers,
                })) => evs.push(REv::End {
                    use_original_body,
                    trailers,
                }),
                Err(e) => {
                    assert_eq!(d.decode(&mut buf).unwrap_err(), e);
                    return (evs, Some(e));
                }
            }
        }
    }
    (evs, None)
}

const REQ_HDR: &str = "GET http://example.com/files/eicar.com HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

const RES_HDR: &str = "HTTP/1.1 200 OK\r\n\
Date: Mon, 03 Aug 2026 10:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\n\
Content-Length: 11\r\n\
\r\n";

/// A Squid-shaped RESPMOD: req-hdr, res-hdr, then `body_entry` and `tail` (the chunked body).
fn squid_respmod(extra: &str, body_entry: &str, tail: &str) -> Vec<u8> {
    let q = REQ_HDR.len();
    let s = RES_HDR.len();
    format!(
        "RESPMOD icap://127.0.0.1:1344/av/respmod ICAP/1.0\r\n\
         Host: 127.0.0.1:1344\r\n\
         Date: Mon, 03 Aug 2026 10:00:00 GMT\r\n\
         Encapsulated: req-hdr=0, res-hdr={q}, {body_entry}={}\r\n\
         {extra}\
         Allow: 204, trailers\r\n\
         X-Client-IP: 10.1.2.3\r\n\
         \r\n\
         {REQ_HDR}{RES_HDR}{tail}",
        q + s
    )
    .into_bytes()
}

fn squid_reqmod(extra: &str, body_entry: &str, tail: &str) -> Vec<u8> {
    let q = REQ_HDR.len();
    format!(
        "REQMOD icap://127.0.0.1:1344/av/reqmod ICAP/1.0\r\n\
         Host: 127.0.0.1:1344\r\n\
         Encapsulated: req-hdr=0, {body_entry}={q}\r\n\
         {extra}\
         Allow: 204, trailers\r\n\
         \r\n\
         {REQ_HDR}{tail}"
    )
    .into_bytes()
}

fn all(input: &[u8]) -> (Vec<Ev>, Option<Error>) {
    drive_requests(&[input], Limits::default())
}

fn head(ev: &Ev) -> &Request {
    match ev {
        Ev::Head(r) => r,
        other => panic!("expected Head, got {other:?}"),
    }
}

fn end(ieof: bool) -> Ev {
    Ev::End {
        ieof,
        trailers: Headers::new(),
    }
}

fn err(input: &[u8]) -> Error {
    match all(input) {
        (_, Some(e)) => e,
        (evs, None) => panic!("no error, events {evs:?}"),
    }
}

fn bad_reason(input: &[u8]) -> String {
    let e = err(input);
    assert_eq!(e.kind, ErrorKind::BadRequest, "{e:?}");
    e.reason
}

#[test]
fn squid_respmod_without_preview() {
    let msg = squid_respmod("", "res-body", "b\r\nhello world\r\n0\r\n\r\n");
    let (evs, e) = all(&msg);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(evs.len(), 3);
    let r = head(&evs[0]);
    assert_eq!(r.method, Method::Respmod);
    assert_eq!(r.service, "/av/respmod");
    assert!(r.has_body && r.allows_204() && !r.allows_206() && !r.wants_close());
    assert_eq!(r.preview, None);
    let q = r.http_request.as_ref().unwrap();
    assert_eq!((q.method.as_str(), q.version.as_str()), ("GET", "HTTP/1.1"));
    assert_eq!(q.url(), "http://example.com/files/eicar.com");
    assert_eq!(q.to_bytes(), REQ_HDR.as_bytes());
    let s = r.http_response.as_ref().unwrap();
    assert_eq!((s.status, s.reason.as_str()), (200, "OK"));
    assert_eq!(s.headers.get("content-length"), Some("11"));
    assert_eq!(s.to_bytes(), RES_HDR.as_bytes());
    assert_eq!(r.headers.get("X-Client-IP"), Some("10.1.2.3"));
    assert_eq!(evs[1], Ev::Body(b"hello world".to_vec()));
    assert_eq!(evs[2], end(false));
}

#[test]
fn preview_then_continue() {
    let mut msg = squid_respmod("Preview: 4\r\n", "res-body", "4\r\nhell\r\n0\r\n\r\n");
    let rest = b"7\r\no world\r\n0\r\n\r\n";
    msg.extend_from_slice(rest);
    let mut d = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&msg[..]);
    let Some(RequestEvent::Head(r)) = d.decode(&mut buf).unwrap() else {
        panic!("no head")
    };
    assert_eq!(r.preview, Some(4));
    assert!(!d.is_idle());
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Some(RequestEvent::Body(bytes::Bytes::from_static(b"hell")))
    );
    assert_eq!(d.decode(&mut buf).unwrap(), Some(RequestEvent::PreviewEnd));
    assert!(d.is_waiting_for_preview_decision());
    // Waits without consuming until told what the server answered.
    for _ in 0..3 {
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], rest);
    }
    d.continue_body();
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Some(RequestEvent::Body(bytes::Bytes::from_static(b"o world")))
    );
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Some(RequestEvent::End {
            ieof: false,
            trailers: Headers::new()
        })
    );
    assert!(d.is_idle() && buf.is_empty());
    // No-ops outside a preview decision.
    d.continue_body();
    d.abandon_body();
    assert!(d.is_idle());
}

#[test]
fn preview_ieof_holds_whole_body() {
    let msg = squid_respmod(
        "Preview: 1024\r\n",
        "res-body",
        "b\r\nhello world\r\n0; ieof\r\n\r\n",
    );
    let (evs, e) = all(&msg);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(evs[1..], [Ev::Body(b"hello world".to_vec()), end(true)]);
}

#[test]
fn preview_zero() {
    let msg = squid_respmod("Preview: 0\r\n", "res-body", "0; ieof\r\n\r\n");
    let (evs, e) = all(&msg);
    assert!(e.is_none());
    assert_eq!(head(&evs[0]).preview, Some(0));
    assert_eq!(evs[1..], [end(true)]);

    // Preview: 0 then `0`: PreviewEnd; abandoning lets the next request through.
    let mut msg = squid_respmod("Preview: 0\r\n", "res-body", "0\r\n\r\n");
    let second = squid_reqmod("", "null-body", "");
    msg.extend_from_slice(&second);
    let mut d = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&msg[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(RequestEvent::Head(_)))
    ));
    assert_eq!(d.decode(&mut buf).unwrap(), Some(RequestEvent::PreviewEnd));
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    d.abandon_body();
    assert!(d.is_idle());
    let Some(RequestEvent::Head(r)) = d.decode(&mut buf).unwrap() else {
        panic!("no second head")
    };
    assert_eq!(r.method, Method::Reqmod);
    assert!(!r.has_body);
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(RequestEvent::End { ieof: false, .. }))
    ));
    assert!(buf.is_empty() && d.is_idle());
}

#[test]
fn preview_data_over_announced_size_is_rejected() {
    let msg = squid_respmod("Preview: 4\r\n", "res-body", "5\r\nhello\r\n0\r\n\r\n");
    assert!(bad_reason(&msg).contains("Preview: 4"));
    let msg = squid_respmod("Preview: 4\r\n", "res-body", "3\r\nhel\r\n2\r\nlo\r\n");
    assert!(bad_reason(&msg).contains("Preview"));
}

#[test]
fn squid_null_body_with_preview_zero() {
    // Squid sends `Preview: 0` with null-body and no last-chunk.
    let msg = squid_respmod("Preview: 0\r\n", "null-body", "");
    let (evs, e) = all(&msg);
    assert!(e.is_none());
    let r = head(&evs[0]);
    assert!(!r.has_body);
    assert_eq!(r.preview, Some(0));
    assert_eq!(evs[1..], [end(false)]);
}

#[test]
fn reqmod_with_body_and_trailers() {
    let msg = squid_reqmod(
        "",
        "req-body",
        "3; name=\"x;y\"\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: y\r\n\r\n",
    );
    let (evs, e) = all(&msg);
    assert!(e.is_none(), "{e:?}");
    let r = head(&evs[0]);
    assert!(r.http_response.is_none());
    assert_eq!(evs[1], Ev::Body(b"abc".to_vec()));
    let Ev::End { ieof, trailers } = &evs[2] else {
        panic!("no end")
    };
    assert!(!ieof);
    assert_eq!(trailers.get("x-checksum"), Some("1234"));
    assert_eq!(trailers.len(), 2);
}

#[test]
fn options_with_and_without_encapsulated() {
    let (evs, e) = all(b"OPTIONS icap://127.0.0.1:1344/av ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(e.is_none());
    let r = head(&evs[0]);
    assert_eq!(r.method, Method::Options);
    assert!(!r.has_body);
    assert_eq!(evs[1..], [end(false)]);
    let (evs, e) = all(b"OPTIONS icap://h/av ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n");
    assert!(e.is_none());
    assert_eq!(evs.len(), 2);
    let (evs, e) = all(
        b"OPTIONS icap://h/av ICAP/1.0\r\nEncapsulated: opt-body=0\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert!(e.is_none());
    assert_eq!(evs[1], Ev::Body(b"abc".to_vec()));
    assert!(bad_reason(b"OPTIONS icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=18\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        .contains("OPTIONS"));
}

#[test]
fn respmod_variants_accepted() {
    // Only res-hdr.
    let s = RES_HDR.len();
    let msg = format!(
        "RESPMOD icap://h/av ICAP/1.0\r\nEncapsulated: res-hdr=0, res-body={s}\r\n\r\n{RES_HDR}0\r\n\r\n"
    );
    let (evs, e) = all(msg.as_bytes());
    assert!(e.is_none(), "{e:?}");
    assert!(head(&evs[0]).http_request.is_none());
    assert_eq!(evs[1..], [end(false)]);
    // Only null-body.
    let (evs, e) = all(b"RESPMOD icap://h/av ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n");
    assert!(e.is_none());
    assert_eq!(evs.len(), 2);
}

#[test]
fn lf_only_message() {
    let req = "GET / HTTP/1.1\nHost: a\n\n";
    let msg = format!(
        "REQMOD icap://h/r ICAP/1.0\nEncapsulated: req-hdr=0, req-body={}\n\n{req}3\nabc\n0\n\n",
        req.len()
    );
    let (evs, e) = all(msg.as_bytes());
    assert!(e.is_none(), "{e:?}");
    assert_eq!(
        head(&evs[0])
            .http_request
            .as_ref()
            .unwrap()
            .headers
            .get("host"),
        Some("a")
    );
    assert_eq!(evs[1..], [Ev::Body(b"abc".to_vec()), end(false)]);
}

#[test]
fn pipelined_requests_and_blank_lines_between() {
    let mut msg = squid_reqmod("", "req-body", "1\r\nx\r\n0\r\n\r\n");
    msg.extend_from_slice(b"\r\n\r\n");
    msg.extend_from_slice(&squid_respmod("", "res-body", "1\r\ny\r\n0\r\n\r\n"));
    let (evs, e) = all(&msg);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(evs.len(), 6);
    assert_eq!(head(&evs[3]).method, Method::Respmod);
}

#[test]
fn big_chunk_is_streamed_zero_copy() {
    let msg = squid_reqmod("", "req-body", "a00000\r\n");
    let mut d = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&msg[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(RequestEvent::Head(_)))
    ));
    assert_eq!(d.decode(&mut buf).unwrap(), None);
    let mut total = 0usize;
    for round in 0..20 {
        buf.reserve(512 * 1024);
        buf.extend_from_slice(&vec![round as u8; 512 * 1024]);
        let start = buf.as_ptr() as usize;
        let Some(RequestEvent::Body(b)) = d.decode(&mut buf).unwrap() else {
            panic!("no body piece")
        };
        assert_eq!(b.as_ptr() as usize, start, "body bytes are not copied");
        assert_eq!(b.len(), 512 * 1024);
        total += b.len();
        assert_eq!(d.decode(&mut buf).unwrap(), None);
    }
    assert_eq!(total, 0xa00000);
    buf.extend_from_slice(b"\r\n0\r\n\r\n");
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(RequestEvent::End { .. }))
    ));
}

#[test]
fn error_kinds_for_request_line() {
    assert_eq!(
        err(b"FOO icap://h/ ICAP/1.0\r\n\r\n").kind,
        ErrorKind::MethodNotImplemented
    );
    assert_eq!(err(b"FOO icap://h/ ICAP/1.0\r\n\r\n").kind.status(), 501);
    let e = err(b"REQMOD icap://h/ ICAP/2.0\r\nEncapsulated: null-body=0\r\n\r\n");
    assert_eq!(
        (e.kind, e.kind.status()),
        (ErrorKind::VersionNotSupported, 505)
    );
    assert!(bad_reason(b"REQMOD icap://h/ ICAP/1.0 extra\r\n\r\n").contains("request line"));
    assert!(bad_reason(b"REQMOD\r\n\r\n").contains("request line"));
}

#[test]
fn missing_or_wrong_encapsulated() {
    let m = bad_reason(b"REQMOD icap://h/ ICAP/1.0\r\nHost: h\r\n\r\n");
    assert!(m.contains("without Encapsulated"), "{m}");
    let m = bad_reason(b"RESPMOD icap://h/ ICAP/1.0\r\nHost: h\r\n\r\n");
    assert!(m.contains("without Encapsulated"), "{m}");
    let m = bad_reason(b"REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n");
    assert!(m.contains("without req-hdr"), "{m}");
    let m = bad_reason(b"REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, res-body=18\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert!(m.contains("cannot carry res-body"), "{m}");
    let m = bad_reason(b"RESPMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\n");
    assert!(m.contains("cannot carry req-body"), "{m}");
    let m = bad_reason(b"REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: null-body=0\r\nEncapsulated: null-body=0\r\n\r\n");
    assert!(m.contains("more than one Encapsulated"), "{m}");
    let m = bad_reason(
        b"RESPMOD icap://h/ ICAP/1.0\r\nEncapsulated: res-hdr=0, req-hdr=5, null-body=9\r\n\r\n",
    );
    assert!(m.contains("may not follow"), "{m}");
}

#[test]
fn encapsulated_offsets_must_match_heads() {
    let q = REQ_HDR.len();
    let s = RES_HDR.len();
    // res-hdr offset two bytes too far: the request head ends before it.
    let msg = format!(
        "RESPMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{REQ_HDR}xx{RES_HDR}0\r\n\r\n",
        q + 2,
        q + s + 2
    );
    let m = bad_reason(msg.as_bytes());
    assert_eq!(
        m,
        format!(
            "Encapsulated: res-hdr offset {} but HTTP request head ends at {q}",
            q + 2
        )
    );
    // res-hdr offset too early: the request head has no blank line there.
    let msg = format!(
        "RESPMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{REQ_HDR}{RES_HDR}0\r\n\r\n",
        q - 2,
        q + s
    );
    let m = bad_reason(msg.as_bytes());
    assert!(m.contains("does not end with a blank line"), "{m}");
    // Body offset too late: the response head would swallow body bytes.
    let msg = format!(
        "RESPMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={q}, res-body={}\r\n\r\n{REQ_HDR}{RES_HDR}0\r\n\r\n",
        q + s + 3
    );
    let m = bad_reason(msg.as_bytes());
    assert_eq!(
        m,
        format!(
            "Encapsulated: res-body offset {} but HTTP response head ends at {}",
            q + s + 3,
            q + s
        )
    );
    // A head that is not HTTP.
    let msg =
        "REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=7\r\n\r\nhello\r\n\r\n";
    assert!(bad_reason(msg.as_bytes()).contains("does not end with a blank line"));
    let msg =
        "REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=9\r\n\r\nhello\r\n\r\n";
    assert!(bad_reason(msg.as_bytes()).contains("HTTP request line"));
}

#[test]
fn preview_values() {
    for v in ["abc", "-1", "", "1 2", "+5", "0x10", "99999999999999999999"] {
        let msg = squid_respmod(&format!("Preview: {v}\r\n"), "res-body", "0\r\n\r\n");
        let m = bad_reason(&msg);
        assert!(m.contains("Preview"), "{v:?}: {m}");
    }
    let msg = squid_respmod("Preview: 1\r\nPreview: 2\r\n", "res-body", "0\r\n\r\n");
    assert!(bad_reason(&msg).contains("more than one Preview"));
}

#[test]
fn header_syntax_is_strict() {
    let cases: [&[u8]; 6] = [
        b"OPTIONS icap://h/ ICAP/1.0\r\nHost : h\r\n\r\n",
        b"OPTIONS icap://h/ ICAP/1.0\r\nHo st: h\r\n\r\n",
        b"OPTIONS icap://h/ ICAP/1.0\r\nHost: h\rX: y\r\n\r\n",
        b"OPTIONS icap://h/ ICAP/1.0\r\nHost: h\0\r\n\r\n",
        b"OPTIONS icap://h/ ICAP/1.0\r\nHost: h\r\n folded\r\n\r\n",
        b"OPTIONS icap://h/ ICAP/1.0\r\nNoColon\r\n\r\n",
    ];
    for c in cases {
        assert_eq!(
            err(c).kind,
            ErrorKind::BadRequest,
            "{:?}",
            String::from_utf8_lossy(c)
        );
    }
}

#[test]
fn header_limits() {
    let limits = Limits {
        max_header_bytes: 512,
        max_header_fields: 8,
        ..Limits::default()
    };
    // ICAP head over the byte limit, complete or not.
    let long = format!(
        "OPTIONS icap://h/ ICAP/1.0\r\nX-Long: {}\r\n\r\n",
        "a".repeat(600)
    );
    let (_, e) = drive_requests(&[long.as_bytes()], limits);
    assert_eq!(e.unwrap().kind, ErrorKind::HeaderTooLarge);
    let (_, e) = drive_requests(&[&long.as_bytes()[..550]], limits);
    assert_eq!(e.unwrap().kind, ErrorKind::HeaderTooLarge);
    // Too many fields.
    let many = format!(
        "OPTIONS icap://h/ ICAP/1.0\r\n{}\r\n",
        "X-A: b\r\n".repeat(9)
    );
    let (_, e) = drive_requests(&[many.as_bytes()], limits);
    let e = e.unwrap();
    assert_eq!((e.kind, e.kind.status()), (ErrorKind::HeaderTooLarge, 400));
    // Encapsulated heads push the total over the limit: refused before they arrive.
    let msg = squid_respmod("", "res-body", "");
    let (_, e) = drive_requests(&[&msg[..300]], limits);
    assert!(e.is_none());
    let small = Limits {
        max_header_bytes: 300,
        ..limits
    };
    let icap_len = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (_, e) = drive_requests(&[&msg[..icap_len]], small);
    assert_eq!(e.unwrap().kind, ErrorKind::HeaderTooLarge);
    // Too many fields in an encapsulated head.
    let req = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(9));
    let msg = format!(
        "REQMOD icap://h/ ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body={}\r\n\r\n{req}",
        req.len()
    );
    let (_, e) = drive_requests(&[msg.as_bytes()], limits);
    assert_eq!(e.unwrap().kind, ErrorKind::HeaderTooLarge);
}

#[test]
fn chunk_errors() {
    let m = bad_reason(&squid_reqmod("", "req-body", "10000000001\r\n"));
    assert!(m.contains("chunk size"), "{m}");
    let m = bad_reason(&squid_reqmod("", "req-body", "fffffffffffffffffffffff\r\n"));
    assert!(m.contains("chunk size"), "{m}");
    let m = bad_reason(&squid_reqmod("", "req-body", "3\r\nabcX"));
    assert!(m.contains("CRLF"), "{m}");
    let m = bad_reason(&squid_reqmod("", "req-body", "zz\r\n"));
    assert!(m.contains("chunk-size"), "{m}");
    let m = bad_reason(&squid_reqmod(
        "",
        "req-body",
        &format!("1;{}", "a".repeat(5000)),
    ));
    assert!(m.contains("chunk-size line longer"), "{m}");
    let m = bad_reason(&squid_reqmod("", "req-body", "0\r\nBad Trailer\r\n\r\n"));
    assert!(m.contains("trailer"), "{m}");
}

#[test]
fn errors_are_sticky_and_idle_tracks_messages() {
    let mut d = RequestDecoder::new(Limits::default());
    assert!(d.is_idle());
    let mut buf =
        BytesMut::from(&b"BOGUS icap://h/ ICAP/1.0\r\n\r\nOPTIONS icap://h/ ICAP/1.0\r\n\r\n"[..]);
    let e = d.decode(&mut buf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MethodNotImplemented);
    assert_eq!(d.decode(&mut buf).unwrap_err(), e);
    assert!(!d.is_idle());
}

#[test]
fn response_decoder_squid_shapes() {
    use crate::encode;
    let mut out = BytesMut::new();
    encode::response_head(&Response::new(100, "Continue"), &mut out);
    let mut r204 = Response::new(204, "No Content");
    r204.headers.append("ISTag", "\"BW-1\"");
    encode::response_head(&r204, &mut out);
    // A 206 with adapted headers and use-original-body.
    let mut r206 = Response::new(206, "Partial Content");
    r206.headers.append("ISTag", "\"BW-1\"");
    r206.http_response = Some(crate::HttpResponseHead {
        version: "HTTP/1.1".into(),
        status: 200,
        reason: "OK".into(),
        headers: Headers::new(),
    });
    r206.has_body = true;
    encode::response_head(&r206, &mut out);
    encode::use_original_body(0, &mut out);
    // A 200 echo with a body and trailers.
    out.extend_from_slice(b"ICAP/1.0 200 OK\r\nISTag: \"BW-1\"\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n");
    let (evs, e) = drive_responses(&[&out], Limits::default());
    assert!(e.is_none(), "{e:?}");
    let end = |u| REv::End {
        use_original_body: u,
        trailers: Headers::new(),
    };
    assert!(matches!(&evs[0], REv::Head(h) if h.status == 100));
    assert_eq!(evs[1], end(None));
    let REv::Head(h) = &evs[2] else { panic!() };
    assert_eq!(**h, r204);
    assert_eq!(evs[3], end(None));
    let REv::Head(h) = &evs[4] else { panic!() };
    assert_eq!(**h, r206);
    assert_eq!(evs[5], end(Some(0)));
    let REv::Head(h) = &evs[6] else { panic!() };
    assert!(h.headers.get("Encapsulated").is_none());
    assert_eq!(evs[7], REv::Body(b"hello".to_vec()));
    assert!(
        matches!(&evs[8], REv::End { use_original_body: None, trailers } if trailers.get("x-t") == Some("1"))
    );
    assert_eq!(evs.len(), 9);
}

#[test]
fn response_decoder_errors() {
    let cases: [(&[u8], ErrorKind); 4] = [
        (b"ICAP/1.0 204 No Content\r\nEncapsulated: res-body=0\r\n\r\n", ErrorKind::BadRequest),
        (b"ICAP/1.1 200 OK\r\n\r\n", ErrorKind::VersionNotSupported),
        (b"ICAP/1.0 2x0 OK\r\n\r\n", ErrorKind::BadRequest),
        (b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=5\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", ErrorKind::BadRequest),
    ];
    for (input, kind) in cases {
        let (_, e) = drive_responses(&[input], Limits::default());
        assert_eq!(
            e.map(|e| e.kind),
            Some(kind),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mut d = ResponseDecoder::new(Limits::default());
    assert!(d.is_idle());
    let mut buf = BytesMut::from(&b"ICAP/1.0 200 OK\r\nEncapsulated: opt-body=0\r\n\r\n"[..]);
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Some(ResponseEvent::Head(_)))
    ));
    assert!(!d.is_idle());
}
