//! Recent detections: the tail of the AV statistics log, filtered by the query.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::detections::{self, Filter};

use super::model::Detections;
use super::reply::{error, ok};
use super::state::Shared;

/// The raw value of the query parameter `key` (`None` when absent).
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

/// `GET /api/detections`: the last lines that pass the query's filter, newest first.
pub(crate) async fn detections(State(s): State<Arc<Shared>>, uri: axum::http::Uri) -> Response {
    let config = s.backend.config();
    let default = config.console.detections;
    let q = uri.query();
    let limit = query_param(q, "limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, 1000);
    let filter = Filter {
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
    let Some(path) = config.log.av_stats_file.clone() else {
        return ok(&Detections {
            enabled: false,
            note: Some("log.av_stats_file is not set: no detections are recorded"),
            items: Vec::new(),
        });
    };
    match tokio::task::spawn_blocking(move || detections::recent(&path, limit, &filter)).await {
        Ok(Ok(items)) => ok(&Detections {
            enabled: true,
            note: None,
            items,
        }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => ok(&Detections {
            enabled: true,
            note: Some("the AV statistics log does not exist yet"),
            items: Vec::new(),
        }),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the AV statistics log: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
