//! Answers: JSON bodies (every one a `#[derive(Serialize)]` type of [`super::model`]), the
//! error shape `{"ok": false, "error": "..."}`, and JSON request bodies.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::model::ErrorBody;

/// `v` as JSON with `status`, never cached.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_else(|e| {
        tracing::error!(target: "bulwark::console", "answer not serialisable: {e}");
        b"{}".to_vec()
    });
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

/// `{"ok": false, "error": msg}` with `status`.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &ErrorBody::new(msg))
}

/// `v` as JSON with `200 OK`.
pub(crate) fn ok<T: Serialize>(v: &T) -> Response {
    json_response(StatusCode::OK, v)
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
