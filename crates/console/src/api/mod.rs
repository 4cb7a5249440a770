//! The JSON API and the embedded pages: the routes, here; the middleware (`guard`); the shared
//! state (`state`); the answer helpers (`reply`) and the answers' types (`model`); and the
//! handlers, one module per resource (`session`, `status`, `detections`, `database`,
//! `config`, `policy`).

mod config;
mod database;
mod detections;
mod guard;
mod model;
#[cfg(test)]
mod openapi_tests;
mod policy;
mod reply;
mod session;
mod state;
mod status;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub(crate) use state::Shared;

use reply::error;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");
const ICON_SVG: &str = include_str!("../../assets/icon.svg");

/// An embedded page or asset.
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
        .route("/api/session", get(session::session))
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/status", get(status::status))
        .route("/api/stats", get(status::stats))
        .route("/api/detections", get(detections::detections))
        .route("/api/database", get(database::database))
        .route("/api/database/update", post(database::update))
        .route("/api/reload", post(database::reload))
        .route("/api/reload-db", post(database::reload_db))
        .route("/api/license", get(status::license))
        .route(
            "/api/config",
            get(config::config_get).post(config::config_apply),
        )
        .route("/api/config/check", post(config::config_check))
        .route(
            "/api/config/policy",
            get(policy::policy_get).post(policy::policy_post),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API endpoint") })
        .layer(middleware::from_fn_with_state(s.clone(), guard::guard));
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
        .layer(middleware::from_fn_with_state(
            s.clone(),
            guard::headers_layer,
        ))
        .with_state(s)
}
