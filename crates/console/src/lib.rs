//! Bulwark's administration web console and JSON API.
//!
//! Off unless `[console] listen` is set. One HTTP (or, with `tls_cert`/`tls_key`, HTTPS)
//! listener serves a small single-page console (HTML, CSS and JS embedded in the binary, no
//! external assets) and the JSON API under `/api/` that it uses, documented in
//! `docs/console-openapi.yaml`:
//!
//! - status, live statistics (a ring buffer of samples of the `/metrics` counters, one hour),
//!   recent detections (the tail of `log.av_stats_file`, filtered by client, group, threat,
//!   user, URL and day), licence, configuration (secrets masked);
//! - reload of the configuration or the databases (through [`Controller`]), a database update
//!   through a hook the server passes in, and configuration edits — the whole file as text, or
//!   the policy's groups, filters and actions through a form (`policyform`) — checked before
//!   they are written (atomically, with a backup) and reloaded.
//!
//! Authentication is a password (an Argon2 PHC string in the configuration, see
//! [`hash_password`]) or a bearer token; a log-in opens a session held in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over HTTPS), and every state-changing request of a
//! session must carry the session's CSRF token in `X-CSRF-Token`. Log-ins are rate-limited per
//! client address, and every action is logged.

mod api;
mod auth;
mod configedit;
mod detections;
mod http;
mod policyform;
mod sampler;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bulwark_server::control::Controller;
use bulwark_server::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{hash_password, verify_password};
use bulwark_config::ConsoleConfig;
pub use detections::{parse_av_stats_line, AvStatsLine};
pub use sampler::percentile;

/// What a database update returns: a report to show (`Ok`) or why it failed (`Err`).
pub type UpdateFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Starts a database update ("update now" in the console). The server passes one in when an
/// updater is built in; without one the console answers `501 Not Implemented`.
pub type UpdateHook = Arc<dyn Fn() -> UpdateFuture + Send + Sync>;

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
    /// The HTTPS certificate or key could not be used.
    #[error("console TLS: {0}")]
    Tls(String),
    /// The configuration cannot work (e.g. only one of `tls_cert` and `tls_key`).
    #[error("console: {0}")]
    Config(String),
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

/// Serves the console on `listeners` until `stop` becomes true.
///
/// `config_path` is the file the server was started with (`--config`): the configuration
/// editor writes it and then calls [`Controller::reload`]; without it edits are refused.
/// `update_hook` runs a database update ("update now"); without it that action answers `501`.
/// The console's own settings (`[console]`) are read from the live snapshot on every request,
/// so a reload changes the password, token and session lifetime; the listen addresses and the
/// TLS certificate apply after a restart.
pub async fn serve_console(
    listeners: Vec<TcpListener>,
    ctx: Arc<Context>,
    ctl: Arc<Controller>,
    config_path: Option<PathBuf>,
    update_hook: Option<UpdateHook>,
    stop: watch::Receiver<bool>,
) -> Result<(), ConsoleError> {
    let cfg = ctx.snapshot.load().config.console.clone();
    let acceptor = http::acceptor(&cfg)?;
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
    let state = api::Shared::new(ctx, ctl, config_path, update_hook, acceptor.is_some());
    let sampler = tokio::spawn(sampler::run(state.clone(), stop.clone()));
    let app = api::router(state);
    let mut tasks = Vec::new();
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            let scheme = if acceptor.is_some() { "https" } else { "http" };
            tracing::info!("console on {scheme}://{a}/");
        }
        tasks.push(tokio::spawn(http::serve_listener(
            l,
            app.clone(),
            acceptor.clone(),
            stop.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    sampler.abort();
    Ok(())
}
