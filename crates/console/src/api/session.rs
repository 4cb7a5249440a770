//! Log-in, log-out and the session probe: the password (Argon2, verified on a small pool of
//! threads with bounded waiting) or the bearer token opens a session held in a cookie.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tracing::{info, warn};

use crate::auth;

use super::guard::{cookie_value, COOKIE};
use super::model::{Done, LoggedIn, LoginMethods, SessionState};
use super::reply::{error, ok, parse_body};
use super::state::Shared;

/// `GET /api/session`: whether the cookie names a live session, and which log-ins exist.
pub(crate) async fn session(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let cfg = s.console();
    let csrf = cookie_value(&headers)
        .and_then(|id| s.sessions.get(&id))
        .map(|sess| sess.csrf);
    ok(&SessionState {
        authenticated: csrf.is_some(),
        csrf,
        login: LoginMethods {
            password: cfg.password_hash.is_some(),
            token: cfg.token.is_some() || cfg.token_file.is_some(),
        },
    })
}

/// `POST /api/login`'s body.
#[derive(Deserialize)]
struct LoginBody {
    password: String,
}

/// Log-ins allowed to wait for a verification; more get `429`.
const MAX_VERIFY_WAITING: usize = 8;

/// Verifies `password` against `hash` with bounded concurrency; `None` when too many wait.
async fn verify_bounded(s: &Shared, password: String, hash: String) -> Option<bool> {
    let waiting = s.verify_waiting.fetch_add(1, Ordering::SeqCst);
    let permit = if waiting < MAX_VERIFY_WAITING {
        s.verify.acquire().await.ok()
    } else {
        None
    };
    s.verify_waiting.fetch_sub(1, Ordering::SeqCst);
    let _permit = permit?;
    Some(s.verify_pool.verify(password, hash).await)
}

/// `POST /api/login`: checks the rate limit, then the token or the password; opens a session.
pub(crate) async fn login(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cfg = s.console();
    if let Err(wait) = s
        .limiter
        .attempt(peer.ip(), cfg.max_login_attempts_per_minute)
    {
        warn!(target: "bulwark::console", %peer, "log-in refused: too many attempts");
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many log-in attempts: wait {wait} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let b: LoginBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let token = auth::configured_token(&cfg);
    if cfg.password_hash.is_none() && token.is_none() {
        warn!(target: "bulwark::console", %peer, "log-in refused: no password or token configured");
        return error(
            StatusCode::FORBIDDEN,
            "log-in is off: set console.password_hash (bulwark console hash-password) or console.token",
        );
    }
    let by_token = token.is_some_and(|t| auth::same_secret(&b.password, &t));
    let good = by_token
        || match cfg.password_hash.clone() {
            Some(h) => match verify_bounded(&s, b.password.clone(), h).await {
                Some(good) => good,
                None => {
                    warn!(target: "bulwark::console", %peer, "log-in refused: too many verifications waiting");
                    let mut r = error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many log-ins at once: try again in a few seconds",
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                    return r;
                }
            },
            None => false,
        };
    if !good {
        warn!(target: "bulwark::console", %peer, "log-in failed: wrong password");
        return error(StatusCode::UNAUTHORIZED, "wrong password");
    }
    let ttl = Duration::from_secs(cfg.session_ttl_secs.max(60));
    let Some((id, csrf)) = s.sessions.open(ttl) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session");
    };
    info!(target: "bulwark::console", %peer, session = &id[..8], by = if by_token { "token" } else { "password" }, "logged in");
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl.as_secs(),
        if s.tls { "; Secure" } else { "" }
    );
    let mut r = ok(&LoggedIn {
        ok: true,
        csrf,
        expires_in_secs: ttl.as_secs(),
    });
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /api/logout`: ends the session and clears the cookie.
pub(crate) async fn logout(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_value(&headers) {
        s.sessions.close(&id);
    }
    let mut r = ok(&Done { ok: true });
    let clear = format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if s.tls { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
