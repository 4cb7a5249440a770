//! The JSON API and the embedded pages: routes, authentication, CSRF, security headers, logs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bulwark_server::control::Controller;
use bulwark_server::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use crate::auth::{self, LoginLimiter, Sessions};
use crate::configedit::{self, MASK};
use crate::detections;
use crate::sampler::{self, Ring, Sample};
use crate::UpdateHook;

/// The session cookie.
const COOKIE: &str = "bulwark_console";
/// Largest configuration text accepted.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ICON_SVG: &str = include_str!("../assets/icon.svg");

/// Content Security Policy: nothing but this origin's own script and style; no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The outcome of the last database update started from the console.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateReport {
    /// When it ended (Unix time).
    at: u64,
    /// Seconds it took.
    secs: f64,
    /// Whether it succeeded.
    ok: bool,
    /// The updater's report, or why it failed.
    message: String,
}

/// What every handler shares.
pub(crate) struct Shared {
    pub ctx: Arc<Context>,
    ctl: Arc<Controller>,
    pub(crate) config_path: Option<PathBuf>,
    update_hook: Option<UpdateHook>,
    tls: bool,
    pub ring: Mutex<Ring>,
    sessions: Sessions,
    limiter: LoginLimiter,
    /// Argon2 verifications running at once (each takes ~19 MiB): log-ins beyond
    /// [`MAX_VERIFY_WAITING`] waiting are answered `429` instead of growing memory.
    verify: tokio::sync::Semaphore,
    verify_waiting: std::sync::atomic::AtomicUsize,
    verify_pool: auth::VerifyPool,
    updating: AtomicBool,
    last_update: Mutex<Option<UpdateReport>>,
    pub(crate) edit: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(
        ctx: Arc<Context>,
        ctl: Arc<Controller>,
        config_path: Option<PathBuf>,
        update_hook: Option<UpdateHook>,
        tls: bool,
    ) -> Arc<Self> {
        let interval = ctx.snapshot.load().config.console.sample_interval_secs;
        let s = Arc::new(Self {
            ctx,
            ctl,
            config_path,
            update_hook,
            tls,
            ring: Mutex::new(Ring::new(interval)),
            sessions: Sessions::default(),
            limiter: LoginLimiter::default(),
            verify: tokio::sync::Semaphore::new(MAX_VERIFY_RUNNING),
            verify_waiting: std::sync::atomic::AtomicUsize::new(0),
            verify_pool: auth::VerifyPool::new(MAX_VERIFY_RUNNING),
            updating: AtomicBool::new(false),
            last_update: Mutex::new(None),
            edit: tokio::sync::Mutex::new(()),
        });
        let first = s.sample_now();
        if let Ok(mut r) = s.ring.lock() {
            r.push(first);
        }
        s
    }

    /// The counters now.
    pub fn sample_now(&self) -> Sample {
        Sample::from_prometheus(&self.ctx.stats.prometheus(), sampler::unix_now())
    }

    fn console(&self) -> bulwark_config::ConsoleConfig {
        self.ctx.snapshot.load().config.console.clone()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config_path", &self.config_path)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Who made a request: logged with every action.
#[derive(Debug, Clone)]
struct Who(String);

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &json!({ "ok": false, "error": msg.into() }))
}

pub(crate) fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

/// Parses a JSON body, answering `400` or `415` when it cannot be.
pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as application/json",
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
        ))
    })
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

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
async fn guard(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
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
async fn headers_layer(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
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

fn asset(ct: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The routes.
pub(crate) fn router(s: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/session", get(session))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/status", get(status))
        .route("/api/stats", get(stats))
        .route("/api/detections", get(detections_h))
        .route("/api/database", get(database))
        .route("/api/database/update", post(update))
        .route("/api/reload", post(reload))
        .route("/api/reload-db", post(reload_db))
        .route("/api/license", get(license))
        .route("/api/config", get(config_get).post(config_apply))
        .route("/api/config/check", post(config_check))
        .route(
            "/api/config/policy",
            get(crate::policyform::policy_get).post(crate::policyform::policy_post),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API endpoint") })
        .layer(middleware::from_fn_with_state(s.clone(), guard));
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/icon.svg",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
        .merge(api)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(s.clone(), headers_layer))
        .with_state(s)
}

async fn session(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let cfg = s.console();
    let methods = json!({
        "password": cfg.password_hash.is_some(),
        "token": cfg.token.is_some() || cfg.token_file.is_some(),
    });
    match cookie_value(&headers).and_then(|id| s.sessions.get(&id)) {
        Some(sess) => ok(json!({ "authenticated": true, "csrf": sess.csrf, "login": methods })),
        None => ok(json!({ "authenticated": false, "login": methods })),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    password: String,
}

/// Password verifications run at once (Argon2 with the crate's defaults needs ~19 MiB each).
const MAX_VERIFY_RUNNING: usize = 2;
/// Log-ins allowed to wait for a verification; more get `429`.
const MAX_VERIFY_WAITING: usize = 8;

/// Verifies `password` against `hash` with bounded concurrency; `None` when too many wait.
async fn verify_bounded(s: &Shared, password: String, hash: String) -> Option<bool> {
    use std::sync::atomic::Ordering;
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

async fn login(
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
    let mut r = ok(json!({ "ok": true, "csrf": csrf, "expires_in_secs": ttl.as_secs() }));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_value(&headers) {
        s.sessions.close(&id);
    }
    let mut r = ok(json!({ "ok": true }));
    let clear = format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if s.tls { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn license_json(ctx: &Context) -> Value {
    match &ctx.license {
        None => json!({
            "required": false,
            "state": "not required",
            "allows_scanning": true,
            "expiring_in_days": null,
        }),
        Some(l) => json!({
            "required": true,
            "state": l.describe(),
            "allows_scanning": l.allows_scanning(),
            "expiring_in_days": l.expiring_soon(),
        }),
    }
}

fn database_json(s: &Shared, now: &Sample) -> Value {
    let snap = s.ctx.snapshot.load();
    let age = (now.t as i64 - now.database_loaded).max(0);
    json!({
        "version": snap.database.version(),
        "loaded_at": now.database_loaded,
        "age_secs": age,
    })
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.ctx.snapshot.load();
    let now = s.sample_now();
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": s.ctx.stats.uptime_secs(),
        "istag": snap.istag,
        "connections_open": now.connections_open,
        "connections_total": now.connections,
        "in_flight": now.in_flight,
        "objects_total": now.objects.values().sum::<u64>(),
        "objects_infected": now.objects.get("infected").copied().unwrap_or(0),
        "database": database_json(&s, &now),
        "license": license_json(&s.ctx),
        "config_path": s.config_path.as_ref().map(|p| p.display().to_string()),
        "update_available": s.update_hook.is_some(),
    }))
}

async fn stats(State(s): State<Arc<Shared>>) -> Response {
    let now = s.sample_now();
    let interval = s.console().sample_interval_secs.max(1);
    let (series, hour) = match s.ring.lock() {
        Ok(r) => (r.series(), r.hour(&now)),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "samples unavailable"),
    };
    ok(json!({
        "interval_secs": interval,
        "now": {
            "t": now.t,
            "requests": now.requests,
            "requests_total": now.requests_total(),
            "objects": now.objects,
            "bytes": now.bytes,
            "connections": now.connections,
            "connections_open": now.connections_open,
            "in_flight": now.in_flight,
        },
        "hour": hour,
        "series": series,
    }))
}

fn query_param<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A query parameter's value, `%XX` and `+` decoded; empty values count as absent.
fn query_text(q: Option<&str>, key: &str) -> Option<String> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = query_param(q, key)?.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    let v = String::from_utf8_lossy(&out).trim().to_string();
    (!v.is_empty()).then_some(v)
}

async fn detections_h(State(s): State<Arc<Shared>>, uri: axum::http::Uri) -> Response {
    let snap = s.ctx.snapshot.load();
    let default = snap.config.console.detections;
    let q = uri.query();
    let limit = query_param(q, "limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, 1000);
    let filter = detections::Filter {
        all: matches!(query_param(q, "all"), Some("1" | "true" | "")),
        client: query_text(q, "client"),
        group: query_text(q, "group"),
        threat: query_text(q, "threat"),
        url: query_text(q, "url"),
        user: query_text(q, "user"),
        from: query_text(q, "from"),
        to: query_text(q, "to"),
    };
    if let Err(e) = filter.validate() {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let Some(path) = snap.config.log.av_stats_file.clone() else {
        return ok(json!({
            "enabled": false,
            "note": "log.av_stats_file is not set: no detections are recorded",
            "items": [],
        }));
    };
    match tokio::task::spawn_blocking(move || detections::recent(&path, limit, &filter)).await {
        Ok(Ok(items)) => ok(json!({ "enabled": true, "items": items })),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => ok(json!({
            "enabled": true,
            "note": "the AV statistics log does not exist yet",
            "items": [],
        })),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the AV statistics log: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn database(State(s): State<Arc<Shared>>) -> Response {
    let now = s.sample_now();
    let last = s.last_update.lock().ok().and_then(|g| g.clone());
    ok(json!({
        "database": database_json(&s, &now),
        "update": {
            "available": s.update_hook.is_some(),
            "running": s.updating.load(Ordering::SeqCst),
            "last": last,
        },
    }))
}

/// Clears the "update running" flag however the update ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

async fn update(State(s): State<Arc<Shared>>) -> Response {
    let Some(hook) = s.update_hook.clone() else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "database updates are not available: this server has no updater wired into the \
             console (reload the databases after updating them by other means)",
        );
    };
    if s.updating.swap(true, Ordering::SeqCst) {
        return error(StatusCode::CONFLICT, "an update is already running");
    }
    let _running = Running(&s.updating);
    let started = Instant::now();
    info!(target: "bulwark::console", "database update started");
    let result = hook().await;
    let report = UpdateReport {
        at: sampler::unix_now(),
        secs: started.elapsed().as_secs_f64(),
        ok: result.is_ok(),
        message: match &result {
            Ok(m) | Err(m) => m.clone(),
        },
    };
    if let Ok(mut g) = s.last_update.lock() {
        *g = Some(report.clone());
    }
    match result {
        Ok(m) => {
            info!(target: "bulwark::console", "database update done: {m}");
            ok(json!({ "ok": true, "message": m, "report": report }))
        }
        Err(e) => {
            warn!(target: "bulwark::console", "database update failed: {e}");
            json_response(
                StatusCode::BAD_GATEWAY,
                &json!({ "ok": false, "error": e, "report": report }),
            )
        }
    }
}

fn reload_answer(what: &str, r: Result<String, bulwark_server::ReloadError>) -> Response {
    match r {
        Ok(m) => ok(json!({ "ok": true, "message": m })),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} refused, the previous one keeps serving: {e}"),
        ),
    }
}

async fn reload(State(s): State<Arc<Shared>>) -> Response {
    reload_answer("reload", s.ctl.reload().await)
}

async fn reload_db(State(s): State<Arc<Shared>>) -> Response {
    reload_answer("database reload", s.ctl.reload_db().await)
}

async fn license(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.ctx.snapshot.load();
    let mut v = license_json(&s.ctx);
    let cfg = toml::to_string(&snap.config.license)
        .ok()
        .and_then(|t| configedit::mask_text(&t));
    v["config"] = json!(cfg);
    ok(v)
}

async fn config_get(State(s): State<Arc<Shared>>) -> Response {
    let snap = s.ctx.snapshot.load();
    let effective = toml::to_string(&*snap.config)
        .ok()
        .and_then(|t| configedit::mask_text(&t));
    let (file, note) = match &s.config_path {
        None => (
            None,
            Some("the server runs on its embedded defaults (no --config): nothing to edit"),
        ),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => match configedit::mask_text(&t) {
                Some(m) => (Some(m), None),
                None => (None, Some("the file does not parse now; it is not shown")),
            },
            Err(_) => (None, Some("the file cannot be read now")),
        },
    };
    // Under the Debian package the file is root:bulwark 0640 in root's /etc/bulwark: the
    // service cannot write it, and says so instead of failing on save.
    let unwritable = s.config_path.as_deref().and_then(configedit::unwritable);
    let note = match (&unwritable, note) {
        (Some(why), None) => Some(format!(
            "read-only here: {why}; edit the file as root (e.g. `sudoedit`) and reload"
        )),
        (_, n) => n.map(str::to_string),
    };
    ok(json!({
        "path": s.config_path.as_ref().map(|p| p.display().to_string()),
        "editable": s.config_path.is_some() && unwritable.is_none(),
        "mask": MASK,
        "file": file,
        "note": note,
        "effective": effective,
    }))
}

#[derive(Deserialize)]
struct ConfigBody {
    toml: String,
}

fn diagnostics(d: &[bulwark_config::Diagnostic]) -> Value {
    Value::Array(
        d.iter()
            .map(|d| {
                json!({
                    "line": d.line,
                    "key": d.key,
                    "message": d.message,
                    "text": d.to_string(),
                })
            })
            .collect(),
    )
}

/// Unmasks and checks an edited copy: the text to write and its warnings, or the answer.
/// The keys that run commands or name files the service writes, changed between `old` and
/// `new`.
fn command_keys_changed(
    old: &bulwark_config::Config,
    new: &bulwark_config::Config,
) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut cmp = |key: &'static str, same: bool| {
        if !same {
            changed.push(key);
        }
    };
    cmp(
        "update.post_update_cmd",
        old.update.post_update_cmd == new.update.post_update_cmd,
    );
    cmp("notify.script", old.notify.script == new.notify.script);
    cmp(
        "log.report_file",
        old.log.report_file == new.log.report_file,
    );
    cmp(
        "log.av_stats_file",
        old.log.av_stats_file == new.log.av_stats_file,
    );
    cmp(
        "log.counter_stats_file",
        old.log.counter_stats_file == new.log.counter_stats_file,
    );
    cmp(
        "control.pid_file",
        old.control.pid_file == new.control.pid_file,
    );
    cmp("control.socket", old.control.socket == new.control.socket);
    cmp(
        "console.token_file",
        old.console.token_file == new.console.token_file,
    );
    cmp(
        "console.allow_command_edits",
        old.console.allow_command_edits == new.console.allow_command_edits,
    );
    changed
}

pub(crate) fn check_text(s: &Shared, text: &str) -> Result<(String, Value), Box<Response>> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "configuration text over 1 MiB",
        )));
    }
    let current = s
        .config_path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let text = configedit::unmask(text, current.as_deref())
        .map_err(|e| Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, e)))?;
    let origin = s
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<edited>".into());
    match bulwark_config::load_str_with(
        &text,
        &origin,
        bulwark_config::Strictness::Strict,
        &|c: &bulwark_config::Config| bulwark_policy::check_config(&c.policy),
    ) {
        Ok(l) => {
            let running = s.ctx.snapshot.load();
            let changed = command_keys_changed(&running.config, &l.config);
            if !changed.is_empty() && !running.config.console.allow_command_edits {
                return Err(Box::new(json_response(
                    StatusCode::FORBIDDEN,
                    &json!({
                        "ok": false,
                        "error": format!(
                            "{} run commands or name files the service writes: the console may \
                             not change them (console.allow_command_edits is off); edit the \
                             file as root",
                            changed.join(", ")
                        ),
                        "errors": [],
                    }),
                )));
            }
            Ok((text, diagnostics(&l.warnings)))
        }
        Err(bulwark_config::ConfigError::Invalid { errors, .. }) => Err(Box::new(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "ok": false,
                "error": "the configuration is invalid; nothing was changed",
                "errors": diagnostics(&errors),
            }),
        ))),
        Err(e) => Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        ))),
    }
}

async fn config_check(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let b: ConfigBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match check_text(&s, &b.toml) {
        Ok((_, warnings)) => ok(json!({ "ok": true, "errors": [], "warnings": warnings })),
        Err(r) => *r,
    }
}

async fn config_apply(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let b: ConfigBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    apply_text(&s, &b.toml).await
}

/// The file the console edits, or the answer saying why there is none it may write.
pub(crate) fn editable_path(s: &Shared) -> Result<PathBuf, Box<Response>> {
    let Some(path) = s.config_path.clone() else {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            "the server was started without --config: there is no file to write; start it \
             with --config FILE to edit the configuration here",
        )));
    };
    if let Some(why) = configedit::unwritable(&path) {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            format!("the configuration is read-only here: {why}; edit it as root and reload"),
        )));
    }
    Ok(path)
}

/// Checks `toml` as the text editor's and the form editor's edits are checked, then writes it
/// (keeping a backup) and reloads; a refused reload puts the previous file back.
pub(crate) async fn apply_text(s: &Shared, toml: &str) -> Response {
    let path = match editable_path(s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let _g = s.edit.lock().await;
    let (text, warnings) = match check_text(s, toml) {
        Ok(x) => x,
        Err(r) => {
            warn!(target: "bulwark::console", file = %path.display(), "configuration edit refused: check failed");
            return *r;
        }
    };
    let old = match std::fs::read(&path) {
        Ok(o) => o,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            )
        }
    };
    let backup = configedit::backup_path(&path);
    if let Err(e) = configedit::write_atomic_like(&backup, &old, &path) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the backup {}: {e}", backup.display()),
        );
    }
    if let Err(e) = configedit::write_atomic(&path, text.as_bytes()) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write {}: {e}", path.display()),
        );
    }
    info!(target: "bulwark::console", file = %path.display(), backup = %backup.display(), "configuration written; reloading");
    match s.ctl.reload().await {
        Ok(m) => ok(json!({
            "ok": true,
            "message": m,
            "warnings": warnings,
            "backup": backup.display().to_string(),
        })),
        Err(e) => {
            let restored = configedit::write_atomic(&path, &old).is_ok();
            warn!(target: "bulwark::console", file = %path.display(), restored, "configuration edit refused by the reload: {e}");
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({
                    "ok": false,
                    "error": format!(
                        "the reload refused it ({e}); {}; the previous configuration keeps serving",
                        if restored { "the previous file was put back" } else { "the previous file could NOT be put back: see the backup" }
                    ),
                    "errors": [],
                    "backup": backup.display().to_string(),
                }),
            )
        }
    }
}

/// An empty body (for tests of the router without a network).
#[allow(dead_code)]
pub(crate) fn empty() -> Body {
    Body::empty()
}
