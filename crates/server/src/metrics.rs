//! The Prometheus endpoint: `GET /metrics` on its own listener.

use std::sync::Arc;

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::context::Context;

/// The OpenMetrics content type, answered to clients that ask for it in `Accept`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Prometheus' classic text format, answered to everyone else.
const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(ctx): State<Arc<Context>>, headers: HeaderMap) -> impl IntoResponse {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let text = exposition(&ctx);
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], text)
    } else {
        ([(header::CONTENT_TYPE, TEXT_004)], to_text_004(&text))
    }
}

/// Every metric in OpenMetrics text, as `/metrics` (when asked for OpenMetrics) and the control
/// socket's `metrics` command give them.
pub(crate) fn exposition(ctx: &Context) -> String {
    let snap = ctx.snapshot.load();
    let [hits, misses] = &ctx.retired_verdict_lookups;
    let extra = extra_series(
        &snap.verdicts,
        hits.load(Ordering::Relaxed),
        misses.load(Ordering::Relaxed),
    ) + &crate::procstat::render()
        + &database_age(snap.database_age_secs())
        + &syslog_series(ctx.central.stats())
        + &ctx
            .cluster
            .as_ref()
            .map(|c| c.metrics())
            .unwrap_or_default();
    before_eof(ctx.stats.prometheus(), &extra)
}

/// `bulwark_database_age_seconds`: how old the signatures in use are (absent for the built-in
/// test signature, which has no age).
fn database_age(age: Option<u64>) -> String {
    match age {
        Some(a) => format!(
            "# HELP bulwark_database_age_seconds Seconds since the signature files in use were \
             last modified (an update rewrites them).\n# TYPE bulwark_database_age_seconds \
             gauge\nbulwark_database_age_seconds {a}\n"
        ),
        None => String::new(),
    }
}

/// The central log's counters (zero while `[log.syslog]` is off): messages sent, and dropped
/// by reason.
fn syslog_series(s: bulwark_syslog::SyslogStats) -> String {
    let mut out = format!(
        "# HELP bulwark_syslog_messages_sent Messages the syslog receiver took.\n# TYPE \
         bulwark_syslog_messages_sent counter\nbulwark_syslog_messages_sent_total {}\n\
         # HELP bulwark_syslog_messages_dropped Messages not sent to syslog, by reason: \
         queue_full (receiver slow or down), send_failed (refused, reset, timed out), too_large \
         (over one datagram), shutdown (still queued at the flush deadline).\n# TYPE \
         bulwark_syslog_messages_dropped counter\n",
        s.sent
    );
    for (reason, n) in [
        ("queue_full", s.dropped_queue_full),
        ("send_failed", s.dropped_send_failed),
        ("too_large", s.dropped_too_large),
        ("shutdown", s.dropped_shutdown),
    ] {
        let _ = writeln!(
            out,
            "bulwark_syslog_messages_dropped_total{{reason=\"{reason}\"}} {n}"
        );
    }
    out
}

/// `text` with `add` inserted before its closing `# EOF`.
fn before_eof(mut text: String, add: &str) -> String {
    let eof = text.rfind("# EOF").unwrap_or(text.len());
    text.insert_str(eof, add);
    text
}

/// The verdict cache's series (entries: a gauge; hits and misses: counters that add the
/// lookups of the caches of earlier snapshots) and the build information.
fn extra_series(cache: &bulwark_engine::VerdictCache, old_hits: u64, old_misses: u64) -> String {
    let mut add = String::new();
    let mut series = |name: &str, kind: &str, help: &str, sample: String| {
        let _ = write!(
            add,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample}\n"
        );
    };
    series(
        "bulwark_verdict_cache_entries",
        "gauge",
        "Deep-scan verdicts held in the verdict cache.",
        format!("bulwark_verdict_cache_entries {}", cache.len()),
    );
    series(
        "bulwark_verdict_cache_hits",
        "counter",
        "Deep scans answered from the verdict cache.",
        format!(
            "bulwark_verdict_cache_hits_total {}",
            old_hits + cache.hits()
        ),
    );
    series(
        "bulwark_verdict_cache_misses",
        "counter",
        "Verdict cache lookups that found nothing.",
        format!(
            "bulwark_verdict_cache_misses_total {}",
            old_misses + cache.misses()
        ),
    );
    series(
        "bulwark_build_info",
        "gauge",
        "The running build (value 1).",
        format!(
            "bulwark_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    );
    add
}

/// OpenMetrics text in Prometheus' classic 0.0.4 format: a counter's family is named after its
/// `_total` samples (else 0.0.4 parsers type them "unknown"), `# UNIT` and `# EOF` go.
pub fn to_text_004(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 256);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(l.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `GET /healthz`: the process is alive and its runtime answers (always `200 alive`).
async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "alive\n",
    )
}

/// Why an instance should get no work now (the `/readyz` answer's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotReady {
    /// A shutdown drains the connections.
    #[error("draining: shutting down, finishing the transactions in flight")]
    Draining,
    /// The licence does not allow scanning (its state).
    #[error("licence: {0}")]
    Licence(String),
}

/// Whether a load balancer should send this instance work, and why not.
pub(crate) fn readiness(ctx: &Context, draining: bool) -> Result<String, NotReady> {
    if draining {
        return Err(NotReady::Draining);
    }
    let snap = ctx.snapshot.load();
    if let Some(l) = &ctx.license {
        if !l.allows_scanning() {
            return Err(NotReady::Licence(l.describe()));
        }
    }
    Ok(format!(
        "ready: database {}, ISTag {}",
        snap.database.version(),
        snap.istag
    ))
}

/// `GET /readyz`: `200` while the instance should get traffic (database loaded, licence
/// usable, not draining), else `503` with the reason; a balancer's health check stops
/// sending work as soon as SIGTERM starts the drain.
async fn readyz(
    State((ctx, stop)): State<(Arc<Context>, watch::Receiver<bool>)>,
) -> impl IntoResponse {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match readiness(&ctx, *stop.borrow()) {
        Ok(m) => (StatusCode::OK, text, format!("{m}\n")),
        Err(m) => (StatusCode::SERVICE_UNAVAILABLE, text, format!("{m}\n")),
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` for the life of the process: it
/// keeps answering while a shutdown drains the ICAP connections (`/readyz` says `503
/// draining` then), and ends with the runtime.
pub async fn serve_metrics(listener: TcpListener, ctx: Arc<Context>, stop: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(ctx.clone())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state((ctx, stop));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!("metrics endpoint stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verdict_cache_counters_and_build_info_come_before_eof() {
        let cache = bulwark_engine::VerdictCache::new(4);
        let out = super::before_eof(
            "# HELP x y\nx 1\n# EOF\n".into(),
            &super::extra_series(&cache, 5, 7),
        );
        assert!(out.ends_with("} 1\n# EOF\n"), "{out}");
        assert!(out.contains(
            "# TYPE bulwark_verdict_cache_hits counter\nbulwark_verdict_cache_hits_total 5\n"
        ));
        assert!(out.contains("bulwark_verdict_cache_misses_total 7\n"));
    }

    #[test]
    fn syslog_counters_are_families_with_total_samples() {
        let s = bulwark_syslog::SyslogStats {
            sent: 3,
            dropped_queue_full: 2,
            ..Default::default()
        };
        let text = super::syslog_series(s);
        assert!(text.contains(
            "# TYPE bulwark_syslog_messages_sent counter\nbulwark_syslog_messages_sent_total 3\n"
        ));
        assert!(text.contains("bulwark_syslog_messages_dropped_total{reason=\"queue_full\"} 2\n"));
        assert!(text.contains("bulwark_syslog_messages_dropped_total{reason=\"shutdown\"} 0\n"));
    }

    #[test]
    fn text_004_names_counter_families_after_their_samples() {
        let om = "# HELP a_things Things.\n# TYPE a_things counter\na_things_total{k=\"v\"} 3\n\
                  # HELP b Gauge.\n# TYPE b gauge\n# UNIT b bytes\nb 1\n# EOF\n";
        assert_eq!(
            super::to_text_004(om),
            "# HELP a_things_total Things.\n# TYPE a_things_total counter\n\
             a_things_total{k=\"v\"} 3\n# HELP b Gauge.\n# TYPE b gauge\nb 1\n"
        );
    }
}
