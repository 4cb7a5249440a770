//! Bulwark's JSON scanning API (SPEC F-API-1): `POST /v1/scan` answers a verdict as JSON,
//! `GET /v1/database` describes the signatures, `GET /v1/health` says the service is up.
//!
//! Every `/v1/scan` and `/v1/database` request carries `Authorization: Bearer <api.token>`;
//! wrong tokens are limited per client address ([`auth`]). Scans use the same engine, deep
//! scanner, group options and limits as ICAP and the clamd listener ([`scan`]), at most
//! `api.max_concurrent_scans` at once, counted in the same statistics
//! (`bulwark_icap_requests_total{method="api"}`, `bulwark_objects_total`). [`reply`] is the
//! pure verdict→JSON core. The endpoints are described in `docs/api-openapi.yaml`.

pub mod auth;
pub mod reply;
mod routes;
pub mod scan;

use std::net::SocketAddr;
use std::sync::Arc;

use bulwark_config::ApiConfig;
use bulwark_server::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use routes::{router, Api, ROUTES};

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Binding failed.
    #[error("api.listen: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Binds every `api.listen` address (before privileges are dropped).
pub async fn bind(cfg: &ApiConfig) -> Result<Vec<TcpListener>, ApiError> {
    let mut out = Vec::new();
    for addr in &cfg.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ApiError::Bind {
                addr: *addr,
                source,
            })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves the API on `listeners` until `stop` is set (scans in flight finish first).
pub async fn serve(listeners: Vec<TcpListener>, ctx: Arc<Context>, stop: watch::Receiver<bool>) {
    let api = Arc::new(Api::new(ctx));
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let app = router(api.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let until = async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = axum::serve(l, app).with_graceful_shutdown(until).await {
                tracing::warn!("scanning API stopped: {e}");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("scanning API stopped");
}
