//! ICAP request and response heads as plain data.

use crate::{Headers, HttpRequestHead, HttpResponseHead};

/// The three ICAP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `OPTIONS`
    Options,
    /// `REQMOD`
    Reqmod,
    /// `RESPMOD`
    Respmod,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Options => "OPTIONS",
            Method::Reqmod => "REQMOD",
            Method::Respmod => "RESPMOD",
        }
    }
}

/// Limits the decoder enforces, so that hostile input cannot make it allocate without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the ICAP head plus the encapsulated HTTP heads, in bytes.
    pub max_header_bytes: usize,
    /// Maximum number of header fields in any one head.
    pub max_header_fields: usize,
    /// Maximum size of a chunk-size line (with extensions) or a trailer section, in bytes.
    pub max_chunk_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_header_fields: 256,
            max_chunk_line_bytes: 4096,
        }
    }
}

/// A decoded ICAP request head with its encapsulated HTTP heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The ICAP method.
    pub method: Method,
    /// The request URI as sent, e.g. `icap://127.0.0.1:1344/av/respmod?x=1`.
    pub uri: String,
    /// The service path of the URI, without query: `/av/respmod`.
    pub service: String,
    /// ICAP header fields (Host, Allow, Preview, Encapsulated, X-Client-IP, …).
    pub headers: Headers,
    /// The encapsulated HTTP request head (`req-hdr`), if any.
    pub http_request: Option<HttpRequestHead>,
    /// The encapsulated HTTP response head (`res-hdr`), if any.
    pub http_response: Option<HttpResponseHead>,
    /// True when the request carries a body (`req-body`/`res-body`/`opt-body`), false for
    /// `null-body` or no Encapsulated header.
    pub has_body: bool,
    /// The `Preview: n` value, when the client sends a preview.
    pub preview: Option<usize>,
}

impl Request {
    /// True when the client allows a 204 outside preview (`Allow: 204`).
    pub fn allows_204(&self) -> bool {
        self.headers.has_token("Allow", "204")
    }

    /// True when the client allows the 206 extension (`Allow: 206`).
    pub fn allows_206(&self) -> bool {
        self.headers.has_token("Allow", "206")
    }

    /// True when the client wants the connection closed after this transaction.
    pub fn wants_close(&self) -> bool {
        self.headers.has_token("Connection", "close")
    }
}

/// An ICAP response head (what a server sends, what a client decodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// ICAP status code (100, 200, 204, 206, 4xx, 5xx).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// ICAP header fields other than `Encapsulated` (the encoder writes that one).
    pub headers: Headers,
    /// Encapsulated HTTP request head (REQMOD answers that keep the request).
    pub http_request: Option<HttpRequestHead>,
    /// Encapsulated HTTP response head (RESPMOD answers, or a block page in REQMOD).
    pub http_response: Option<HttpResponseHead>,
    /// True when a chunked body follows the heads; false writes `null-body`.
    pub has_body: bool,
}

impl Response {
    /// A head-only response (`100`, `204`, errors) with the given status and reason.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            headers: Headers::new(),
            http_request: None,
            http_response: None,
            has_body: false,
        }
    }
}
