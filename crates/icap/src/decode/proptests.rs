//! Property tests: splitting invariance, encode/decode round trips, no panics on any input.

use bytes::BytesMut;
use proptest::prelude::*;

use super::tests::{drive_requests, drive_responses, Ev, REv};
use super::*;
use crate::{encode, Method};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// Field names that never collide with the fields the encoders write themselves.
fn field_name() -> impl Strategy<Value = String> {
    "X-[A-Za-z0-9-]{1,10}"
}

/// Values as a decoder returns them: no leading/trailing blanks, visible ASCII and spaces.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[!-~]([ !-~]{0,30}[!-~])?"]
}

fn headers(max: usize) -> impl Strategy<Value = Headers> {
    prop::collection::vec((field_name(), field_value()), 0..max).prop_map(|fields| {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.append(n, v);
        }
        h
    })
}

fn http_request() -> impl Strategy<Value = HttpRequestHead> {
    (token(), "[!-~]{1,40}", "HTTP/1\\.[01]", headers(6)).prop_map(
        |(method, uri, version, headers)| HttpRequestHead {
            method,
            uri,
            version,
            headers,
        },
    )
}

fn http_response() -> impl Strategy<Value = HttpResponseHead> {
    (100u16..1000, "([!-~][ !-~]{0,20})?", headers(6)).prop_map(|(status, reason, headers)| {
        HttpResponseHead {
            version: "HTTP/1.1".into(),
            status,
            reason,
            headers,
        }
    })
}

/// A request head plus its body (when it has one).
#[derive(Debug, Clone)]
struct Msg {
    req: Request,
    body: Vec<u8>,
    /// Chunk sizes to cut the body into (cycled).
    cuts: Vec<usize>,
}

fn request_msg() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![
            Just(Method::Options),
            Just(Method::Reqmod),
            Just(Method::Respmod)
        ],
        "/[a-z0-9/]{0,12}",
        headers(5),
        http_request(),
        prop::option::of(http_response()),
        any::<bool>(),
        prop::option::of(0usize..64),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(1usize..80, 1..5),
    )
        .prop_map(
            |(method, service, headers, hreq, hres, has_body, preview, body, cuts)| {
                let (http_request, http_response) = match method {
                    Method::Options => (None, None),
                    Method::Reqmod => (Some(hreq), None),
                    Method::Respmod => (Some(hreq), hres),
                };
                let req = Request {
                    method,
                    uri: format!("icap://127.0.0.1:1344{service}?q=1"),
                    service,
                    headers,
                    http_request,
                    http_response,
                    has_body,
                    preview,
                };
                let body = if has_body { body } else { Vec::new() };
                Msg { req, body, cuts }
            },
        )
}

/// Writes `data` as chunks whose sizes cycle through `cuts`.
fn chunks(data: &[u8], cuts: &[usize], out: &mut BytesMut) {
    let mut rest = data;
    for &cut in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = cut.min(rest.len());
        encode::chunk(&rest[..n], out);
        rest = &rest[n..];
    }
}

/// The wire bytes of `m` and the events a decoder must produce for them (answering a
/// `PreviewEnd` with `continue_body`).
fn encode_request(m: &Msg) -> (Vec<u8>, Vec<Ev>) {
    let mut out = BytesMut::new();
    encode::request_head(&m.req, &mut out);
    let mut expected_req = m.req.clone();
    // The decoder reports the fields as received, including the ones the encoder computes.
    expected_req.headers.remove("Encapsulated");
    if let Some(n) = m.req.preview {
        expected_req.headers.append("Preview", n.to_string());
    }
    let mut evs = vec![];
    if m.req.has_body {
        match m.req.preview {
            Some(n) if m.body.len() <= n => {
                chunks(&m.body, &m.cuts, &mut out);
                encode::ieof_chunk(&mut out);
                if !m.body.is_empty() {
                    evs.push(Ev::Body(m.body.clone()));
                }
                evs.push(Ev::End {
                    ieof: true,
                    trailers: Headers::new(),
                });
            }
            Some(n) => {
                chunks(&m.body[..n], &m.cuts, &mut out);
                encode::last_chunk(&mut out);
                chunks(&m.body[n..], &m.cuts, &mut out);
                encode::last_chunk(&mut out);
                if n > 0 {
                    evs.push(Ev::Body(m.body[..n].to_vec()));
                }
                evs.push(Ev::PreviewEnd);
                evs.push(Ev::Body(m.body[n..].to_vec()));
                evs.push(Ev::End {
                    ieof: false,
                    trailers: Headers::new(),
                });
            }
            None => {
                chunks(&m.body, &m.cuts, &mut out);
                encode::last_chunk(&mut out);
                if !m.body.is_empty() {
                    evs.push(Ev::Body(m.body.clone()));
                }
                evs.push(Ev::End {
                    ieof: false,
                    trailers: Headers::new(),
                });
            }
        }
    } else {
        evs.push(Ev::End {
            ieof: false,
            trailers: Headers::new(),
        });
    }
    evs.insert(0, Ev::Head(Box::new(expected_req)));
    (out.to_vec(), evs)
}

/// Cuts `input` at the given points (taken modulo its length, sorted).
fn split<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    if input.is_empty() {
        return vec![input];
    }
    let mut cuts: Vec<usize> = points.iter().map(|p| p % input.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut at = 0;
    for c in cuts {
        pieces.push(&input[at..c]);
        at = c;
    }
    pieces.push(&input[at..]);
    pieces
}

/// Normalises a decoded request for comparison: drops `Encapsulated` (computed by the encoder),
/// leaving `Preview` which the encoder writes from `Request::preview`.
fn normalise(evs: Vec<Ev>) -> Vec<Ev> {
    evs.into_iter()
        .map(|e| match e {
            Ev::Head(mut r) => {
                r.headers.remove("Encapsulated");
                Ev::Head(r)
            }
            other => other,
        })
        .collect()
}

/// Applies a few byte edits to a valid message, to reach deep decoder states with bad input.
fn mutate(mut input: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, op, byte) in edits {
        if input.is_empty() {
            input.push(byte);
            continue;
        }
        let pos = pos % input.len();
        match op % 3 {
            0 => input[pos] = byte,
            1 => input.insert(pos, byte),
            _ => {
                input.remove(pos);
            }
        }
    }
    input
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b'0'),
        Just(b';'),
        Just(b':'),
        Just(b' '),
        Just(b'f'),
        Just(0u8),
        any::<u8>()
    ]
}

fn small_limits() -> Limits {
    Limits {
        max_header_bytes: 2048,
        max_header_fields: 16,
        max_chunk_line_bytes: 64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Encoding then decoding a request gives back the request and its body, and any split
    /// of the bytes (including 1-byte pieces) gives the same events.
    #[test]
    fn request_round_trip_and_splits(
        msgs in prop::collection::vec(request_msg(), 1..3),
        points in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for m in &msgs {
            let (w, e) = encode_request(m);
            wire.extend_from_slice(&w);
            expected.extend(e);
        }
        let (evs, err) = drive_requests(&[&wire], Limits::default());
        prop_assert_eq!(err, None);
        prop_assert_eq!(normalise(evs.clone()), expected.clone());
        let (split_evs, err) = drive_requests(&split(&wire, &points), Limits::default());
        prop_assert_eq!(err, None);
        prop_assert_eq!(&split_evs, &evs);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        let (byte_evs, err) = drive_requests(&bytes, Limits::default());
        prop_assert_eq!(err, None);
        prop_assert_eq!(byte_evs, evs);
    }

    /// Damaged messages: whatever the decoder makes of them (events, then perhaps an error)
    /// does not depend on how the bytes arrive, and nothing panics.
    #[test]
    fn damaged_requests_split_invariant(
        m in request_msg(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), interesting_byte()), 1..4),
        points in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire = mutate(encode_request(&m).0, &edits);
        for limits in [Limits::default(), small_limits()] {
            let whole = drive_requests(&[&wire], limits);
            let pieces = drive_requests(&split(&wire, &points), limits);
            prop_assert_eq!(&pieces, &whole);
            let bytes: Vec<&[u8]> = wire.chunks(1).collect();
            prop_assert_eq!(drive_requests(&bytes, limits), whole);
        }
    }

    /// Encoding then decoding a response gives it back, split or not.
    #[test]
    fn response_round_trip_and_splits(
        status in prop_oneof![Just(100u16), Just(200), Just(204), Just(206), 100u16..1000],
        reason in "([!-~][ !-~]{0,20})?",
        hdrs in headers(5),
        hreq in prop::option::of(http_request()),
        hres in prop::option::of(http_response()),
        has_body in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(1usize..80, 1..5),
        uob in prop::option::of(any::<u64>()),
        points in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let has_body = has_body && !matches!(status, 100 | 204);
        let resp = Response {
            status,
            reason,
            headers: hdrs,
            http_request: hreq,
            http_response: hres,
            has_body,
        };
        let mut out = BytesMut::new();
        encode::response_head(&resp, &mut out);
        let mut expected = vec![REv::Head(Box::new(resp.clone()))];
        let uob = if has_body {
            chunks(&body, &cuts, &mut out);
            match uob {
                Some(n) => encode::use_original_body(n, &mut out),
                None => encode::last_chunk(&mut out),
            }
            if !body.is_empty() {
                expected.push(REv::Body(body.clone()));
            }
            uob
        } else {
            None
        };
        expected.push(REv::End { use_original_body: uob, trailers: Headers::new() });
        // Twice on one connection.
        let wire = [&out[..], &out[..]].concat();
        let expected = [expected.clone(), expected].concat();
        let whole = drive_responses(&[&wire], Limits::default());
        prop_assert_eq!(&whole, &(expected, None));
        let pieces = drive_responses(&split(&wire, &points), Limits::default());
        prop_assert_eq!(&pieces, &whole);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        prop_assert_eq!(drive_responses(&bytes, Limits::default()), whole);
    }

    /// Arbitrary bytes never panic either decoder, whole or split.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..600),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        for limits in [Limits::default(), small_limits()] {
            let whole = drive_requests(&[&input], limits);
            prop_assert_eq!(drive_requests(&split(&input, &points), limits), whole);
            let whole = drive_responses(&[&input], limits);
            prop_assert_eq!(drive_responses(&split(&input, &points), limits), whole);
        }
    }

    /// Plausible-looking garbage: ICAP-ish prefixes followed by arbitrary bytes.
    #[test]
    fn icap_prefixed_garbage_never_panics(
        prefix in prop_oneof![
            Just(&b"RESPMOD icap://h/av ICAP/1.0\r\nPreview: 3\r\nEncapsulated: req-hdr=0, res-hdr=18, res-body=37\r\n\r\nGET / HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"[..]),
            Just(&b"REQMOD icap://h/av ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=18\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..]),
            Just(&b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"[..]),
        ],
        tail in prop::collection::vec(interesting_byte(), 0..200),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let input = [prefix, &tail[..]].concat();
        let whole = drive_requests(&[&input], small_limits());
        prop_assert_eq!(drive_requests(&split(&input, &points), small_limits()), whole);
        let whole = drive_responses(&[&input], small_limits());
        prop_assert_eq!(drive_responses(&split(&input, &points), small_limits()), whole);
    }
}
