//! Incremental decoders: bytes in, events out.
//!
//! Every message decodes to `Head`, then zero or more `Body` pieces, then `End` (also for
//! `null-body` messages, where `End` follows `Head` at once). A request with a preview that
//! does not end in `ieof` yields `PreviewEnd` after the preview bytes; the decoder then waits
//! until the caller says what it answered: [`RequestDecoder::continue_body`] after sending
//! `100 Continue`, or [`RequestDecoder::abandon_body`] after a final answer (the client then sends
//! no more of this body, and the next bytes are the next request).

use bytes::{Bytes, BytesMut};

use crate::{Error, Headers, Limits, Request, Response};

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

/// Server-side decoder for a stream of ICAP requests on one connection.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    // Implementation state goes here.
}

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let _ = limits;
        todo!()
    }

    /// Decodes the next event from the front of `buf`, consuming what it used.
    /// `Ok(None)` means more bytes are needed (or the decoder waits after `PreviewEnd`).
    /// After an error the stream cannot be framed any more: answer and close.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RequestEvent>, Error> {
        let _ = buf;
        todo!()
    }

    /// After `PreviewEnd`, the server sent `100 Continue`: the rest of the body follows.
    pub fn continue_body(&mut self) {
        todo!()
    }

    /// After `PreviewEnd`, the server sent a final answer: the body ends here, and the next
    /// bytes start a new request.
    pub fn abandon_body(&mut self) {
        todo!()
    }

    /// True between messages (no request partly decoded). A connection closed while idle
    /// with an empty buffer is a clean close.
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}

/// Client-side decoder for a stream of ICAP responses on one connection.
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: Limits,
}

impl ResponseDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let _ = limits;
        todo!()
    }

    /// Decodes the next event from the front of `buf`, consuming what it used.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ResponseEvent>, Error> {
        let _ = buf;
        todo!()
    }

    /// True between messages.
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}
