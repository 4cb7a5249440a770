//! The server side: [`RequestDecoder`].

use bytes::{Buf, BytesMut};

use super::chunked::{ChunkEvent, Chunked};
use super::head::{bad, parse_icap_request_line};
use super::{
    check_total, encapsulated, icap_lines, parse_http_heads, read_icap_head, RequestEvent,
};
use crate::encapsulated::{Encapsulated, Section};
use crate::{Error, Headers, Limits, Method, Request};

#[derive(Debug)]
enum State {
    /// Between messages, waiting for an ICAP head; `scan` is how far it was searched.
    Idle { scan: usize },
    /// The ICAP head is parsed; waiting for all encapsulated HTTP heads.
    Heads {
        req: Box<Request>,
        icap_len: usize,
        encap: Encapsulated,
    },
    /// `Head` was emitted for a message without body; `End` comes next.
    EndPending,
    /// Inside a chunked body; `preview` is true while it is the preview part.
    Body { chunked: Chunked, preview: bool },
    /// `PreviewEnd` was emitted; waiting for `continue_body` or `abandon_body`.
    PreviewWait,
    /// A decoding error; the connection cannot be framed any more.
    Failed(Error),
}

/// Server-side decoder for a stream of ICAP requests on one connection.
///
/// Events per message: `Head`, then for a message with a body zero or more `Body` pieces
/// (never empty, handed out as they arrive, even in the middle of a chunk), then:
/// - no preview: `End { ieof: false, trailers }` after the last chunk;
/// - a preview ending in `0; ieof`: `End { ieof: true, trailers }` — the whole body was sent,
///   and the server must not answer `100 Continue`;
/// - a preview ending in `0`: `PreviewEnd`. The decoder then returns `Ok(None)` and consumes
///   nothing until [`continue_body`](Self::continue_body) (more `Body`, then
///   `End { ieof: false, .. }`) or [`abandon_body`](Self::abandon_body) (the next bytes start a
///   new request; no `End` is emitted for the abandoned body).
///
/// A message without body (`null-body`, or an OPTIONS request without `Encapsulated`) yields
/// `Head` then `End { ieof: false, trailers: empty }`.
///
/// After an error every later call returns the same error.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
}

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Idle { scan: 0 },
        }
    }

    /// Decodes the next event from the front of `buf`, consuming what it used.
    /// `Ok(None)` means more bytes are needed (or the decoder waits after `PreviewEnd`).
    /// After an error the stream cannot be framed any more: answer and close.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RequestEvent>, Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let result = self.step(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<RequestEvent>, Error> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::PreviewWait => return Ok(None),
                State::Idle { scan } => {
                    let Some(icap_len) = read_icap_head(buf, scan, &self.limits)? else {
                        return Ok(None);
                    };
                    let (req, encap) = parse_request_head(&buf[..icap_len], &self.limits)?;
                    check_total(icap_len, &encap, &self.limits)?;
                    self.state = State::Heads {
                        req,
                        icap_len,
                        encap,
                    };
                }
                State::Heads {
                    icap_len, encap, ..
                } => {
                    let (icap_len, encap) = (*icap_len, *encap);
                    let total = icap_len + encap.body_offset;
                    if buf.len() < total {
                        return Ok(None);
                    }
                    let (http_req, http_res) =
                        parse_http_heads(&buf[icap_len..total], &encap, &self.limits)?;
                    buf.advance(total);
                    let State::Heads { mut req, .. } =
                        std::mem::replace(&mut self.state, State::EndPending)
                    else {
                        return Err(bad("internal decoder state error"));
                    };
                    req.http_request = http_req;
                    req.http_response = http_res;
                    if req.has_body {
                        self.state = State::Body {
                            chunked: Chunked::new(req.preview.map(|n| n as u64)),
                            preview: req.preview.is_some(),
                        };
                    }
                    return Ok(Some(RequestEvent::Head(req)));
                }
                State::EndPending => {
                    self.state = State::Idle { scan: 0 };
                    return Ok(Some(RequestEvent::End {
                        ieof: false,
                        trailers: Headers::new(),
                    }));
                }
                State::Body { chunked, preview } => {
                    let preview = *preview;
                    match chunked.decode(buf, &self.limits)? {
                        None => return Ok(None),
                        Some(ChunkEvent::Data(data)) => return Ok(Some(RequestEvent::Body(data))),
                        Some(ChunkEvent::Last { ieof, trailers, .. }) => {
                            if preview && !ieof {
                                self.state = State::PreviewWait;
                                return Ok(Some(RequestEvent::PreviewEnd));
                            }
                            self.state = State::Idle { scan: 0 };
                            return Ok(Some(RequestEvent::End {
                                ieof: preview && ieof,
                                trailers,
                            }));
                        }
                    }
                }
            }
        }
    }

    /// After `PreviewEnd`, the server sent `100 Continue`: the rest of the body follows.
    /// Does nothing in any other state.
    pub fn continue_body(&mut self) {
        if let State::PreviewWait = self.state {
            self.state = State::Body {
                chunked: Chunked::new(None),
                preview: false,
            };
        }
    }

    /// After `PreviewEnd`, the server sent a final answer: the body ends here, and the next
    /// bytes start a new request. Does nothing in any other state (in particular it cannot cut
    /// a body short outside a preview: a client keeps sending it after an early answer, so the
    /// server keeps decoding and discards it).
    pub fn abandon_body(&mut self) {
        if let State::PreviewWait = self.state {
            self.state = State::Idle { scan: 0 };
        }
    }

    /// True between messages (no request partly decoded). A connection closed while idle
    /// with an empty buffer is a clean close.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle { .. })
    }

    /// True after `PreviewEnd`, until `continue_body` or `abandon_body`.
    pub fn is_waiting_for_preview_decision(&self) -> bool {
        matches!(self.state, State::PreviewWait)
    }
}

/// Parses the ICAP request head (start line, fields, `Encapsulated`, `Preview`) and checks the
/// `Encapsulated` entries against the method.
fn parse_request_head(head: &[u8], limits: &Limits) -> Result<(Box<Request>, Encapsulated), Error> {
    let (start, headers) = icap_lines(head, limits, super::Values::Strict)?;
    let line = parse_icap_request_line(start)?;
    let method = line.method;
    let encap = match (encapsulated(&headers)?, method) {
        (Some(e), _) => e,
        (None, Method::Options) => Encapsulated::NULL,
        (None, m) => {
            return Err(bad(format!(
                "{} request without Encapsulated header",
                m.as_str()
            )))
        }
    };
    check_method(method, &encap)?;
    let preview = parse_preview(&headers)?;
    let req = Request {
        method,
        uri: line.uri,
        service: line.service,
        headers,
        http_request: None,
        http_response: None,
        has_body: encap.has_body(),
        preview,
    };
    Ok((Box::new(req), encap))
}

/// Which `Encapsulated` entries each method may carry.
fn check_method(method: Method, e: &Encapsulated) -> Result<(), Error> {
    let m = method.as_str();
    match method {
        Method::Options => {
            if e.req_hdr.is_some() || e.res_hdr.is_some() {
                return Err(bad("Encapsulated: OPTIONS request cannot carry HTTP heads"));
            }
            if !matches!(e.body, Section::NullBody | Section::OptBody) {
                return Err(bad(format!(
                    "Encapsulated: OPTIONS request cannot carry {}",
                    e.body.as_str()
                )));
            }
        }
        Method::Reqmod => {
            if e.req_hdr.is_none() {
                return Err(bad("Encapsulated: REQMOD request without req-hdr"));
            }
            if e.res_hdr.is_some() {
                return Err(bad("Encapsulated: REQMOD request cannot carry res-hdr"));
            }
            if !matches!(e.body, Section::NullBody | Section::ReqBody) {
                return Err(bad(format!(
                    "Encapsulated: {m} request cannot carry {}",
                    e.body.as_str()
                )));
            }
        }
        Method::Respmod => {
            if !matches!(e.body, Section::NullBody | Section::ResBody) {
                return Err(bad(format!(
                    "Encapsulated: {m} request cannot carry {}",
                    e.body.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// The `Preview: n` value: one field, decimal digits only.
fn parse_preview(headers: &Headers) -> Result<Option<usize>, Error> {
    let mut values = headers.get_all("Preview");
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad("more than one Preview header"));
    }
    let n = Some(v)
        .filter(|v| !v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or_else(|| bad(format!("invalid Preview value {v:?}")))?;
    Ok(Some(n))
}
