//! The client side: [`ResponseDecoder`].

use bytes::{Buf, BytesMut};

use super::chunked::{ChunkEvent, Chunked};
use super::head::{bad, parse_icap_status_line};
use super::{
    check_total, encapsulated, icap_lines, parse_http_heads, read_icap_head, ResponseEvent,
};
use crate::encapsulated::{Encapsulated, Section};
use crate::{Error, Headers, Limits, Response};

#[derive(Debug)]
enum State {
    Idle {
        scan: usize,
    },
    Heads {
        resp: Box<Response>,
        icap_len: usize,
        encap: Encapsulated,
    },
    EndPending,
    Body(Chunked),
    Failed(Error),
}

/// Client-side decoder for a stream of ICAP responses on one connection.
///
/// Events per message: `Head`, zero or more `Body` pieces, then `End` (with
/// `use_original_body` when the last chunk carried `use-original-body=N`). A response without
/// `Encapsulated` (e.g. `100 Continue`), or with `null-body`, yields `Head` then `End` at once;
/// `100` and `204` responses must not announce a body.
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: Limits,
    state: State,
}

impl ResponseDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Idle { scan: 0 },
        }
    }

    /// Decodes the next event from the front of `buf`, consuming what it used.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ResponseEvent>, Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let result = self.step(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<ResponseEvent>, Error> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Idle { scan } => {
                    let Some(icap_len) = read_icap_head(buf, scan, &self.limits)? else {
                        return Ok(None);
                    };
                    let (resp, encap) = parse_response_head(&buf[..icap_len], &self.limits)?;
                    check_total(icap_len, &encap, &self.limits)?;
                    self.state = State::Heads {
                        resp,
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
                    let State::Heads { mut resp, .. } =
                        std::mem::replace(&mut self.state, State::EndPending)
                    else {
                        return Err(bad("internal decoder state error"));
                    };
                    resp.http_request = http_req;
                    resp.http_response = http_res;
                    if resp.has_body {
                        self.state = State::Body(Chunked::new(None));
                    }
                    return Ok(Some(ResponseEvent::Head(resp)));
                }
                State::EndPending => {
                    self.state = State::Idle { scan: 0 };
                    return Ok(Some(ResponseEvent::End {
                        use_original_body: None,
                        trailers: Headers::new(),
                    }));
                }
                State::Body(chunked) => match chunked.decode(buf, &self.limits)? {
                    None => return Ok(None),
                    Some(ChunkEvent::Data(data)) => return Ok(Some(ResponseEvent::Body(data))),
                    Some(ChunkEvent::Last {
                        use_original_body,
                        trailers,
                        ..
                    }) => {
                        self.state = State::Idle { scan: 0 };
                        return Ok(Some(ResponseEvent::End {
                            use_original_body,
                            trailers,
                        }));
                    }
                },
            }
        }
    }

    /// True between messages.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle { .. })
    }
}

/// Parses the ICAP response head: status line, fields, optional `Encapsulated`.
fn parse_response_head(
    head: &[u8],
    limits: &Limits,
) -> Result<(Box<Response>, Encapsulated), Error> {
    let (start, mut headers) = icap_lines(head, limits, super::Values::StrictFolded)?;
    let (status, reason) = parse_icap_status_line(start)?;
    let encap = encapsulated(&headers)?.unwrap_or(Encapsulated::NULL);
    // `Response::headers` holds the fields other than Encapsulated, as for encoding.
    headers.remove("Encapsulated");
    if matches!(status, 100 | 204) && encap.body != Section::NullBody {
        return Err(bad(format!(
            "ICAP {status} response cannot carry {}",
            encap.body.as_str()
        )));
    }
    let resp = Response {
        status,
        reason,
        headers,
        http_request: None,
        http_response: None,
        has_body: encap.has_body(),
    };
    Ok((Box::new(resp), encap))
}
