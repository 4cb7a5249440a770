//! Encoders: heads with a computed `Encapsulated` header, and chunked body framing.

use bytes::BytesMut;

use crate::{Request, Response};

/// Writes an ICAP response head: status line, headers, the `Encapsulated` header computed from
/// the HTTP heads present and `has_body`, the blank line, then the serialised HTTP heads.
/// Any `Encapsulated` field in `resp.headers` is ignored.
pub fn response_head(resp: &Response, out: &mut BytesMut) {
    let _ = (resp, out);
    todo!()
}

/// Writes an ICAP request head the same way (for clients, tests and benchmarks). The body
/// kind follows the method: `req-body` for REQMOD, `res-body` for RESPMOD, `opt-body` for
/// OPTIONS.
pub fn request_head(req: &Request, out: &mut BytesMut) {
    let _ = (req, out);
    todo!()
}

/// Writes one body chunk (`<hex size>\r\n<data>\r\n`); an empty `data` writes nothing.
pub fn chunk(data: &[u8], out: &mut BytesMut) {
    let _ = (data, out);
    todo!()
}

/// Writes the last chunk: `0\r\n\r\n`.
pub fn last_chunk(out: &mut BytesMut) {
    let _ = out;
    todo!()
}

/// Writes the last chunk of a preview that holds the whole body: `0; ieof\r\n\r\n`.
pub fn ieof_chunk(out: &mut BytesMut) {
    let _ = out;
    todo!()
}

/// Writes the last chunk of a 206 answer: `0; use-original-body=N\r\n\r\n`.
pub fn use_original_body(offset: u64, out: &mut BytesMut) {
    let _ = (offset, out);
    todo!()
}
