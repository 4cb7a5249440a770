//! One ICAP transaction, in phases: route, identify, scan while the body streams, decide,
//! answer, log.

use std::sync::Arc;
use std::time::Instant;

use bulwark_engine::{Status, Verdict};
use bulwark_icap::{Method, Request, RequestEvent};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

use crate::answer;
use crate::connection::{Conn, ConnError};
use crate::context::Context;
use crate::scan::scan;
use crate::snapshot::Snapshot;

/// What the connection does after a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// Where a request goes (phase 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// OPTIONS for a service of this mode.
    Options(Method),
    /// REQMOD or RESPMOD to a matching service.
    Scan(Method),
    /// No such service.
    NotFound,
    /// The service exists but handles the other method.
    WrongMethod,
}

fn route(snap: &Snapshot, req: &Request) -> Route {
    let s = &snap.config.server;
    let mode = if s.respmod_paths.contains(&req.service) {
        Method::Respmod
    } else if s.reqmod_paths.contains(&req.service) {
        Method::Reqmod
    } else {
        return Route::NotFound;
    };
    match req.method {
        Method::Options => Route::Options(mode),
        m if m == mode => Route::Scan(mode),
        _ => Route::WrongMethod,
    }
}

/// Who asked (phase 2), from the proxy's identity headers (SPEC F-ICAP-4). Never falls back
/// to the proxy's own address.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub(crate) client: Option<String>,
    pub(crate) user: Option<String>,
}

pub(crate) fn identify(snap: &Snapshot, req: &Request) -> Identity {
    let id = &snap.config.identity;
    let client = req
        .headers
        .get(&id.client_ip_header)
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string);
    let user = req
        .headers
        .get(&id.username_header)
        .map(|v| v.trim().to_string())
        .or_else(|| {
            use base64::Engine;
            let v = req.headers.get(&id.username_base64_header)?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()?;
            String::from_utf8(raw).ok()
        })
        .filter(|u| !u.is_empty());
    Identity { client, user }
}

/// Runs one transaction whose head was just decoded.
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    ctx: &Context,
    snap: &Arc<Snapshot>,
    req: Request,
) -> Result<Next, ConnError> {
    let close_after = req.wants_close();
    let _in_flight = ctx.stats.transaction();
    ctx.stats.request(&req.method.as_str().to_ascii_lowercase());
    let next = match route(snap, &req) {
        Route::Options(mode) => {
            skip_body(conn).await?;
            let s = &snap.config.server;
            answer::options(
                &answer::OptionsInfo {
                    method: mode.as_str(),
                    istag: &snap.istag,
                    max_connections: s.max_connections,
                    ttl_secs: s.options_ttl_secs,
                    preview: s.preview_bytes,
                    transfer_complete: &s.transfer_complete,
                    transfer_ignore: &s.transfer_ignore,
                },
                &mut conn.out,
            );
            conn.flush().await?;
            Next::KeepAlive
        }
        Route::NotFound | Route::WrongMethod => {
            let (status, reason) = if route(snap, &req) == Route::NotFound {
                (404, "ICAP Service Not Found")
            } else {
                (405, "Method Not Allowed For Service")
            };
            warn!(peer = %conn.peer, service = %req.service, method = req.method.as_str(), status, "refused");
            answer::error(status, reason, &snap.istag, true, &mut conn.out);
            conn.flush().await?;
            Next::Close
        }
        Route::Scan(_) => scan(conn, ctx, snap, &req).await?,
    };
    Ok(if close_after { Next::Close } else { next })
}

/// Reads and discards a body up to its end (OPTIONS bodies, bodies after an early answer).
pub(crate) async fn skip_body<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
) -> Result<(), ConnError> {
    loop {
        match conn.next_event().await? {
            RequestEvent::End { .. } => return Ok(()),
            RequestEvent::PreviewEnd => {
                // We answer without wanting the rest.
                conn.decoder.abandon_body();
                return Ok(());
            }
            RequestEvent::Body(_) => {}
            RequestEvent::Head(_) => return Err(framing_lost()),
        }
    }
}

pub(crate) fn framing_lost() -> ConnError {
    ConnError::Decode(bulwark_icap::Error::new(
        bulwark_icap::ErrorKind::BadRequest,
        "a new request head inside a body",
    ))
}

/// What happened to the object, for the logs and counters (phase 6).
pub(crate) struct Report<'a> {
    pub(crate) req: &'a Request,
    pub(crate) id: &'a Identity,
    pub(crate) url: &'a str,
    pub(crate) group: &'a str,
    pub(crate) started: Instant,
    pub(crate) size: u64,
    pub(crate) verdict: &'a Verdict,
    pub(crate) answer: &'static str,
}

/// The statistics label of a status.
fn status_label(s: Status) -> &'static str {
    match s {
        Status::Clean => "clean",
        Status::Infected => "infected",
        Status::Suspicious => "suspicious",
        Status::Warning => "warning",
        Status::Cured => "cured",
        Status::Protected => "protected",
        Status::Corrupted => "corrupted",
        Status::Error => "error",
        Status::TooLarge => "too_large",
        Status::LimitsExceeded => "limits_exceeded",
        Status::LicenseError => "license_error",
        Status::BasesError => "bases_error",
    }
}

/// One `av.stats` line: kav4proxy's fields (date, time, size, status and threat, mode, group,
/// user, client, URL) with the scan time appended.
fn av_stats_line(r: &Report<'_>, now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = answer::civil(secs);
    let mut status = r.verdict.status.as_str().to_string();
    if let Some(t) = r.verdict.threats.first() {
        status.push(' ');
        status.push_str(&t.name.replace(char::is_whitespace, "_"));
    }
    let field = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.replace(char::is_whitespace, "%20")
        }
    };
    format!(
        "{:02}-{:02}-{:04} {:02}:{:02}:{:02} {} {} {} {} {} {} {} {}ms\n",
        date.day,
        date.month,
        date.year,
        date.hour,
        date.minute,
        date.second,
        r.size,
        status,
        r.req.method.as_str(),
        field(r.group),
        field(r.id.user.as_deref().unwrap_or("")),
        field(r.id.client.as_deref().unwrap_or("")),
        field(r.url),
        r.started.elapsed().as_millis()
    )
}

pub(crate) fn record(ctx: &Context, r: &Report<'_>) {
    let threats: Vec<&str> = r.verdict.threats.iter().map(|t| t.name.as_str()).collect();
    let elapsed = r.started.elapsed();
    ctx.stats.object(
        status_label(r.verdict.status),
        r.size,
        r.group,
        elapsed.as_secs_f64(),
    );
    let av = ctx.av_log.load();
    if av.enabled() {
        av.write(av_stats_line(r, std::time::SystemTime::now()).as_bytes());
    }
    if let Some(l) = &ctx.license {
        l.record(r.size);
    }
    if r.verdict.status != Status::Clean {
        let denied = matches!(
            r.answer,
            "block" | "abort" | "block-cached" | "block-unscanned"
        );
        ctx.notifier
            .load()
            .notify(bulwark_notify::Event::Detection {
                status: r.verdict.status.as_str().to_string(),
                threats: threats.iter().map(|t| t.to_string()).collect(),
                url: r.url.to_string(),
                client: r.id.client.as_deref().and_then(|c| c.parse().ok()),
                user: r.id.user.clone(),
                group: r.group.to_string(),
                action: if denied { "DENY" } else { "SKIP" }.to_string(),
                size: r.size,
            });
    }
    let show_ok = ctx.snapshot.load().config.log.show_ok;
    if r.verdict.status == Status::Clean && !show_ok {
        return;
    }
    info!(
        target: "bulwark::access",
        method = r.req.method.as_str(),
        client = r.id.client.as_deref().unwrap_or("-"),
        user = r.id.user.as_deref().unwrap_or("-"),
        group = r.group,
        url = r.url,
        size = r.size,
        status = r.verdict.status.as_str(),
        threats = %threats.join(","),
        answer = r.answer,
        ms = elapsed.as_millis() as u64,
        "scanned"
    );
}
