//! Encapsulated HTTP message heads (RFC 3507 §4.4): parsed for policy, kept raw for echo.

use crate::Headers;

/// An encapsulated HTTP request head (`req-hdr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestHead {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target as sent (absolute URI from a proxy, or a path).
    pub uri: String,
    /// Version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields.
    pub headers: Headers,
}

/// An encapsulated HTTP response head (`res-hdr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseHead {
    /// Version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
}

impl HttpRequestHead {
    /// Serialises the head, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The full URL of the request: the absolute URI when the proxy sent one, else
    /// `http://<Host><path>`.
    pub fn url(&self) -> String {
        if self.uri.contains("://") || self.method.eq_ignore_ascii_case("CONNECT") {
            return self.uri.clone();
        }
        match self.headers.get("Host") {
            Some(host) => format!("http://{host}{}", self.uri),
            None => self.uri.clone(),
        }
    }
}

impl HttpResponseHead {
    /// Serialises the head, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(format!(" {} ", self.status).as_bytes());
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }
}
