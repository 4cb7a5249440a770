//! `POST /v1/scan`: the body streamed chunk by chunk into the deep scanner of the configured
//! group (the clamd listener's [`Settings`] and [`Feeder`]: same engine, options and limits
//! as ICAP), never held whole.

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use bulwark_clamd::scan::{Alerts, Feeder, Settings};
use bulwark_server::Context;
use http_body_util::BodyExt;

use crate::reply::{ApiFailure, ScanReport};

/// The scan settings of `[api]` on the current snapshot: its group's engine options and the
/// `[engine.limits]`.
pub fn settings(ctx: &Context) -> Settings {
    let snap = ctx.snapshot.load_full();
    Settings::for_group(&snap, &snap.config.api.group, Alerts::default())
}

/// The declared length of a request, if it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A `413` for an object over `max` bytes.
fn too_large(max: u64) -> ApiFailure {
    ApiFailure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the object is larger than api.max_body_bytes ({max} bytes)"),
    )
}

/// Scans `body` (at most `max` bytes; a larger one is refused as soon as that is known, and
/// no more of it is read) and reports the verdict; counts the object in the statistics.
pub async fn scan_body(
    ctx: &Context,
    headers: &HeaderMap,
    body: Body,
    max: u64,
    name: Option<&str>,
) -> Result<ScanReport, ApiFailure> {
    if content_length(headers).is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let started = Instant::now();
    let settings = settings(ctx);
    let mut feeder = Feeder::new(&settings, true);
    let mut body = body;
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("reading the body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            size += data.len() as u64;
            if size > max {
                return Err(too_large(max));
            }
            feeder.feed(&data);
        }
    }
    let scanned = feeder.finish_async().await.map_err(|e| {
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "scan_failed",
            format!("scan task: {e}"),
        )
    })?;
    let elapsed = started.elapsed();
    bulwark_server::record_direct(
        ctx,
        &bulwark_server::DirectScan {
            protocol: "API",
            group: &settings.group,
            client: None,
            object: name.unwrap_or("body"),
            size: scanned.size,
            verdict: &scanned.verdict.verdict,
            started,
        },
    );
    let report = ScanReport::of(
        &scanned.verdict,
        &scanned.head,
        scanned.size,
        elapsed.as_millis() as u64,
        settings.db.version(),
    );
    Ok(report)
}
