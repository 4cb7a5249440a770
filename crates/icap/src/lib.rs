//! Sans-I/O ICAP/1.0 codec (RFC 3507).
//!
//! Bytes in, events out: [`RequestDecoder`] turns the bytes a client (Squid) sends into
//! [`RequestEvent`]s; [`encode`] writes responses. The mirror image ([`ResponseDecoder`],
//! [`encode::request_head`]) serves test clients, the load generator and round-trip tests.
//! Nothing here touches a socket, a clock or a thread.

pub mod decode;
pub mod encapsulated;
pub mod encode;
mod error;
mod headers;
mod http;
mod message;

pub use decode::{RequestDecoder, RequestEvent, ResponseDecoder, ResponseEvent};
pub use encapsulated::{Encapsulated, Section};
pub use error::{Error, ErrorKind};
pub use headers::Headers;
pub use http::{HttpRequestHead, HttpResponseHead};
pub use message::{Limits, Method, Request, Response};
