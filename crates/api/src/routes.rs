//! The router: authentication, the concurrency limit, and the three endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bulwark_server::Context;
use tokio::sync::Semaphore;

use crate::auth::{self, Limiter};
use crate::reply::{json, ApiFailure, DatabaseReport};

/// Every path the router serves, with its method (the OpenAPI document lists each).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/scan"),
    ("get", "/v1/database"),
    ("get", "/v1/health"),
];

/// The API's state: the server context, the token, the limits.
#[derive(Debug)]
pub struct Api {
    ctx: Arc<Context>,
    token: Option<String>,
    limiter: Limiter,
    scans: Arc<Semaphore>,
    max_body: u64,
}

impl Api {
    /// The API of `[api]` in the context's configuration (read once, at start).
    pub fn new(ctx: Arc<Context>) -> Self {
        let cfg = ctx.snapshot.load().config.api.clone();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max = match cfg.max_concurrent_scans {
            0 => 2 * cpus,
            n => n,
        };
        Self {
            token: auth::configured_token(&cfg),
            limiter: Limiter::new(cfg.max_auth_failures_per_minute),
            scans: Arc::new(Semaphore::new(max)),
            max_body: cfg.max_body_bytes,
            ctx,
        }
    }

    /// Checks the bearer token of a request from `peer`.
    fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<(), ApiFailure> {
        let ip = peer.ip();
        if let Some(wait) = self.limiter.blocked(ip) {
            return Err(ApiFailure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many wrong tokens: wait",
            )
            .retry(wait));
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth::authorized(given, self.token.as_deref()) {
            return Ok(());
        }
        self.limiter.fail(ip);
        tracing::warn!(client = %ip, "scanning API: missing or wrong bearer token");
        Err(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <api.token>` header is required",
        ))
    }
}

/// The router of the API over `api`.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/scan", post(scan))
        .route("/v1/database", get(database))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .with_state(api)
}

/// The `name` query parameter, as given (percent-encoding kept).
fn name_of(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("name="))
}

async fn scan(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiFailure> {
    api.check(&headers, peer)?;
    api.ctx.stats.request("api");
    let Ok(_permit) = api.scans.clone().try_acquire_owned() else {
        return Err(ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "api.max_concurrent_scans scans are running: retry shortly",
        )
        .retry(1));
    };
    let report =
        crate::scan::scan_body(&api.ctx, &headers, body, api.max_body, name_of(&uri)).await?;
    Ok(json(StatusCode::OK, &report))
}

async fn database(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    api.check(&headers, peer)?;
    api.ctx.stats.request("api");
    let snap = api.ctx.snapshot.load();
    let loaded_at = time::OffsetDateTime::from(snap.loaded_at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let report = DatabaseReport {
        version: snap.database.version().to_string(),
        signature_sets: snap.database.sets().to_vec(),
        builtin: snap.database.is_builtin(),
        loaded_at,
        age_seconds: snap.database_age_secs(),
    };
    Ok(json(StatusCode::OK, &report))
}

/// `GET /v1/health`: no token needed, nothing disclosed but that the service answers.
async fn health() -> Response {
    json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn not_found() -> impl IntoResponse {
    ApiFailure::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
