//! Bulwark's administration web console and JSON API, served over a narrow [`Backend`].
//!
//! Start here: the console knows the server only through the [`Backend`] trait (the
//! configuration in force, the status, the counters, reloads, a database update); the binary
//! (`crates/bulwark`, `console_backend.rs`) implements it over the server's context and
//! controller, builds the HTTPS acceptor when `tls_cert`/`tls_key` are set, and calls
//! [`bind_console`] then [`serve_console`]. The tests implement [`Backend`] with a fake
//! (`tests/common`). To add an endpoint: a handler in `src/api/<resource>.rs`, its answer as a
//! `#[derive(Serialize)]` type in `src/api/model.rs`, the route in `src/api/mod.rs`, and the
//! schema in `docs/console-openapi.yaml` (a test checks the types against it).
//!
//! Off unless `[console] listen` is set. One HTTP (or, with `tls_cert`/`tls_key`, HTTPS)
//! listener serves a small single-page console (HTML, CSS and JS embedded in the binary, no
//! external assets) and the JSON API under `/api/` that it uses, documented in
//! `docs/console-openapi.yaml`:
//!
//! - status, live statistics (a ring buffer of samples of the server's counters, one hour),
//!   recent detections (the tail of `log.av_stats_file`, filtered by client, group, threat,
//!   user, URL and day), licence, configuration (secrets masked);
//! - reload of the configuration or the databases, a database update, and configuration
//!   edits — the whole file as text, or the policy's groups, filters and actions through a
//!   form (`policyform`) — checked before they are written (atomically, with a backup) and
//!   reloaded.
//!
//! Authentication is a password (an Argon2 PHC string in the configuration, see
//! [`hash_password`]) or a bearer token; a log-in opens a session held in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over HTTPS), and every state-changing request of a
//! session must carry the session's CSRF token in `X-CSRF-Token`. Log-ins are rate-limited per
//! client address, and every action is logged.

mod api;
mod auth;
mod backend;
mod configedit;
mod detections;
mod http;
mod policyform;
mod sampler;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{hash_password, verify_password, HashError};
pub use backend::{
    Backend, BackendError, BoxFuture, Counters, LicenseStatus, ServerStatus, UpdateFuture,
};
use bulwark_config::ConsoleConfig;
pub use detections::{parse_av_stats_line, AvStatsLine};
pub use sampler::percentile;
/// The HTTPS acceptor [`serve_console`] takes (the binary builds it from `tls_cert` and
/// `tls_key`).
pub use tokio_rustls::TlsAcceptor;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} for the console: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Binds the console's listen addresses (call it before dropping privileges).
pub async fn bind_console(cfg: &ConsoleConfig) -> Result<Vec<TcpListener>, ConsoleError> {
    let mut out = Vec::new();
    for addr in &cfg.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ConsoleError::Bind {
                addr: *addr,
                source,
            })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves the console on `listeners` until `stop` becomes true, over `backend`; HTTPS when
/// `tls` is given.
///
/// `config_path` is the file the server was started with (`--config`): the configuration
/// editor writes it and then calls [`Backend::reload`]; without it edits are refused. The
/// console's own settings (`[console]`) are read from [`Backend::config`] on every request, so
/// a reload changes the password, token and session lifetime; the listen addresses and the
/// TLS certificate apply after a restart.
pub async fn serve_console(
    listeners: Vec<TcpListener>,
    backend: Arc<dyn Backend>,
    tls: Option<TlsAcceptor>,
    config_path: Option<PathBuf>,
    stop: watch::Receiver<bool>,
) {
    let cfg = backend.config().console.clone();
    if cfg.password_hash.is_none() && cfg.token.is_none() && cfg.token_file.is_none() {
        tracing::warn!(
            "console: neither console.password_hash nor console.token is set: nobody can log in \
             (make a hash with `bulwark console hash-password`)"
        );
    }
    if let Some(h) = &cfg.password_hash {
        if argon2::PasswordHash::new(h).is_err() {
            tracing::warn!("console.password_hash is not a PHC string: password log-in will fail");
        }
    }
    let state = api::Shared::new(backend, config_path, tls.is_some());
    let sampler = tokio::spawn(sampler::run(state.clone(), stop.clone()));
    let app = api::router(state);
    let mut tasks = Vec::new();
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!("console on {scheme}://{a}/");
        }
        tasks.push(tokio::spawn(http::serve_listener(
            l,
            app.clone(),
            tls.clone(),
            stop.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    sampler.abort();
}
