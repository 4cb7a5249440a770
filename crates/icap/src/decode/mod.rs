//! Incremental decoders: bytes in, events out.
//!
//! Every message decodes to `Head`, then zero or more `Body` pieces, then `End` (also for
//! `null-body` messages, where `End` follows `Head` at once). A request with a preview that
//! does not end in `ieof` yields `PreviewEnd` after the preview bytes; the decoder then waits
//! until the caller says what it answered: [`RequestDecoder::continue_body`] after sending
//! `100 Continue`, or [`RequestDecoder::abandon_body`] after a final answer (the client then sends
//! no more of this body, and the next bytes are the next request).

use bytes::{Buf, Bytes, BytesMut};

use crate::encapsulated::{Encapsulated, Section};
use crate::{
    Error, ErrorKind, Headers, HttpRequestHead, HttpResponseHead, Limits, Request, Response,
};

mod chunked;
mod head;
#[cfg(test)]
mod proptests;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use request::RequestDecoder;
pub use response::ResponseDecoder;

pub(crate) use head::Values;
use head::{bad, find_head_end, parse_fields, split_lines};

/// What a [`RequestDecoder`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEvent {
    /// A complete ICAP request head with its encapsulated HTTP heads.
    Head(Box<Request>),
    /// De-chunked body bytes, in order.
    Body(Bytes),
    /// The preview ended without `ieof`: the client waits for `100 Continue` or a final answer.
    PreviewEnd,
    /// The body ended (a zero chunk, or `0; ieof` inside a preview), or there was none.
    End {
        /// True when the preview ended with `ieof` (the preview held the whole body).
        ieof: bool,
        /// Trailer fields after the last chunk, if any.
        trailers: Headers,
    },
}

/// What a [`ResponseDecoder`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseEvent {
    /// A complete ICAP response head with its encapsulated HTTP heads.
    Head(Box<Response>),
    /// De-chunked body bytes, in order.
    Body(Bytes),
    /// The body ended, or there was none.
    End {
        /// `use-original-body=N` from the last chunk of a 206 answer.
        use_original_body: Option<u64>,
        /// Trailer fields after the last chunk, if any.
        trailers: Headers,
    },
}

/// Waits for a complete ICAP head at the front of `buf` and returns its length (through its
/// blank line). Blank lines before a message are skipped. `scan` remembers how far earlier
/// calls looked, so that a head arriving byte by byte is scanned once.
fn read_icap_head(
    buf: &mut BytesMut,
    scan: &mut usize,
    limits: &Limits,
) -> Result<Option<usize>, Error> {
    if *scan == 0 {
        loop {
            match &buf[..] {
                [b'\r', b'\n', ..] => buf.advance(2),
                [b'\n', ..] => buf.advance(1),
                _ => break,
            }
        }
    }
    let max = limits.max_header_bytes;
    match find_head_end(buf, *scan) {
        Some(end) if end > max => Err(too_large(max)),
        Some(end) => {
            *scan = 0;
            Ok(Some(end))
        }
        None if buf.len() >= max => Err(too_large(max)),
        None => {
            *scan = buf.len().saturating_sub(2);
            Ok(None)
        }
    }
}

fn too_large(max: usize) -> Error {
    Error::new(
        ErrorKind::HeaderTooLarge,
        format!("ICAP head and encapsulated HTTP heads exceed {max} bytes"),
    )
}

/// Parses the ICAP head's lines: the start line (returned raw) and the header fields.
fn icap_lines<'a>(
    head: &'a [u8],
    limits: &Limits,
    values: Values,
) -> Result<(&'a [u8], Headers), Error> {
    let lines = split_lines(head)?;
    let Some((&start, fields)) = lines.split_first() else {
        return Err(bad("empty ICAP head"));
    };
    let headers = parse_fields(fields, limits.max_header_fields, values, "ICAP head")?;
    Ok((start, headers))
}

/// The single `Encapsulated` header, parsed, or `None` when absent.
fn encapsulated(headers: &Headers) -> Result<Option<Encapsulated>, Error> {
    let mut values = headers.get_all("Encapsulated");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad("more than one Encapsulated header"));
    }
    Encapsulated::parse(value).map(Some)
}

/// Checks that the heads fit the header limit together with the ICAP head.
fn check_total(icap_len: usize, encap: &Encapsulated, limits: &Limits) -> Result<(), Error> {
    match icap_len.checked_add(encap.body_offset) {
        Some(total) if total <= limits.max_header_bytes => Ok(()),
        _ => Err(too_large(limits.max_header_bytes)),
    }
}

/// Parses the encapsulated HTTP heads in `section` (exactly `encap.body_offset` bytes), checking
/// that each head ends with its blank line exactly where the next entry begins.
fn parse_http_heads(
    section: &[u8],
    encap: &Encapsulated,
    limits: &Limits,
) -> Result<(Option<HttpRequestHead>, Option<HttpResponseHead>), Error> {
    let mut req = None;
    let mut res = None;
    for (kind, start, end) in encap.heads() {
        let (what, next) = match kind {
            Section::ReqHdr if encap.res_hdr.is_some() => ("HTTP request head", "res-hdr"),
            Section::ReqHdr => ("HTTP request head", encap.body.as_str()),
            _ => ("HTTP response head", encap.body.as_str()),
        };
        let bytes = section
            .get(start..end)
            .ok_or_else(|| bad("Encapsulated: offsets beyond the encapsulated heads"))?;
        match find_head_end(bytes, 0) {
            Some(e) if e == bytes.len() => {}
            Some(e) => {
                return Err(bad(format!(
                    "Encapsulated: {next} offset {end} but {what} ends at {}",
                    start + e
                )))
            }
            None => {
                return Err(bad(format!(
                    "Encapsulated: {what} at {}={start} does not end with a blank line at {next} offset {end}",
                    kind.as_str()
                )))
            }
        }
        let lines = split_lines(bytes)?;
        let Some((&first, fields)) = lines.split_first() else {
            return Err(bad(format!("empty {what}")));
        };
        let headers = parse_fields(fields, limits.max_header_fields, Values::Lenient, what)?;
        if kind == Section::ReqHdr {
            let (method, uri, version) = head::parse_http_request_line(first)?;
            req = Some(HttpRequestHead {
                method,
                uri,
                version,
                headers,
            });
        } else {
            let (version, status, reason) = head::parse_http_status_line(first)?;
            res = Some(HttpResponseHead {
                version,
                status,
                reason,
                headers,
            });
        }
    }
    Ok((req, res))
}
