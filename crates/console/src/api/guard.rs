//! The middleware: authentication (session cookie or bearer token), CSRF and same-origin
//! checks for `/api/*`, the log line of every request, and the security headers of every
//! answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{debug, info, warn};

use crate::auth;

use super::reply::error;
use super::state::Shared;

/// The session cookie.
pub(crate) const COOKIE: &str = "bulwark_console";

/// Content Security Policy: nothing but this origin's own script and style; no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who made a request: logged with every action.
#[derive(Debug, Clone)]
struct Who(String);

/// The session identifier the request's cookie carries.
pub(crate) fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// True for methods that may change something (CSRF-checked).
fn state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The client's address (the connection attaches it).
fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// A state-changing request from another origin (a browser tells with `Origin`) is refused.
fn same_origin(headers: &HeaderMap, tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let scheme = if tls { "https" } else { "http" };
    origin == format!("{scheme}://{host}")
}

/// Authentication and CSRF for `/api/*` (except log-in and the session probe), then the log.
pub(crate) async fn guard(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let peer = peer_of(&req)
        .map(|p| p.to_string())
        .unwrap_or_else(|| "-".into());
    let open = matches!(path.as_str(), "/api/login" | "/api/session");
    if state_changing(&method) && !same_origin(req.headers(), s.tls) {
        warn!(target: "bulwark::console", %peer, %method, %path, "refused: cross-origin request");
        return error(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let who = if open {
        Who("anonymous".into())
    } else if let Some(t) = bearer(req.headers()) {
        let cfg = s.console();
        match auth::configured_token(&cfg) {
            Some(want) if auth::same_secret(t, &want) => Who("token".into()),
            _ => {
                warn!(target: "bulwark::console", %peer, %method, %path, "refused: wrong bearer token");
                // A wrong token is a guess like a wrong password: it counts against the
                // log-in limits, and past them the answer is 429.
                let ip = peer_of(&req).map(|p| p.ip());
                let limited = ip.map(|ip| s.limiter.attempt(ip, cfg.max_login_attempts_per_minute));
                if let Some(Err(wait)) = limited {
                    return error(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("too many wrong tokens: wait {wait} s"),
                    );
                }
                return error(StatusCode::UNAUTHORIZED, "wrong bearer token");
            }
        }
    } else {
        let Some(sess) = cookie_value(req.headers()).and_then(|id| {
            let sess = s.sessions.get(&id)?;
            Some((id, sess))
        }) else {
            debug!(target: "bulwark::console", %peer, %method, %path, "refused: not logged in");
            return error(StatusCode::UNAUTHORIZED, "log in first");
        };
        if state_changing(&method) {
            let sent = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !auth::same_secret(sent, &sess.1.csrf) {
                warn!(target: "bulwark::console", %peer, %method, %path, "refused: CSRF token missing or wrong");
                return error(
                    StatusCode::FORBIDDEN,
                    "CSRF token missing or wrong (X-CSRF-Token)",
                );
            }
        }
        Who(format!("session {}", &sess.0[..8.min(sess.0.len())]))
    };
    req.extensions_mut().insert(who.clone());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if state_changing(&method) {
        info!(target: "bulwark::console", %peer, who = %who.0, %method, %path, status, "console action");
    } else {
        debug!(target: "bulwark::console", %peer, who = %who.0, %method, %path, status, "console request");
    }
    resp
}

/// Security headers on every answer.
pub(crate) async fn headers_layer(
    State(s): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if s.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}
