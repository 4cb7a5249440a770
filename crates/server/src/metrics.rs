//! The Prometheus endpoint: `GET /metrics` on its own listener.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::context::Context;

async fn metrics(State(ctx): State<Arc<Context>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        exposition(&ctx),
    )
}

/// Every metric, as `/metrics` and the control socket's `metrics` command give them.
pub(crate) fn exposition(ctx: &Context) -> String {
    with_verdict_cache(ctx.stats.prometheus(), &ctx.snapshot.load().verdicts)
}

/// `text` with the verdict cache's gauges added before the closing `# EOF` (they belong to
/// the configuration snapshot and restart from zero on reload, hence gauges).
fn with_verdict_cache(mut text: String, cache: &bulwark_engine::VerdictCache) -> String {
    let eof = text.rfind("# EOF").unwrap_or(text.len());
    let mut add = String::new();
    for (name, help, v) in [
        (
            "bulwark_verdict_cache_entries",
            "Deep-scan verdicts held in the verdict cache.",
            cache.len() as u64,
        ),
        (
            "bulwark_verdict_cache_hits",
            "Deep scans answered from the verdict cache since the last reload.",
            cache.hits(),
        ),
        (
            "bulwark_verdict_cache_misses",
            "Verdict cache lookups that found nothing since the last reload.",
            cache.misses(),
        ),
    ] {
        add.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        ));
    }
    text.insert_str(eof, &add);
    text
}

/// Serves `/metrics` on `listener` until `stop` becomes true.
pub async fn serve_metrics(
    listener: TcpListener,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(ctx);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!("metrics endpoint stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verdict_cache_gauges_come_before_eof() {
        let cache = bulwark_engine::VerdictCache::new(4);
        let out = super::with_verdict_cache("# HELP x y\nx 1\n# EOF\n".into(), &cache);
        assert!(
            out.ends_with("bulwark_verdict_cache_misses 0\n# EOF\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE bulwark_verdict_cache_hits gauge\nbulwark_verdict_cache_hits 0\n")
        );
    }
}
