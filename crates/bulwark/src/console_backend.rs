//! The web console's view of the server: [`bulwark_console::Backend`] over the server's
//! context and controller, and the console's HTTPS acceptor.

use std::sync::Arc;

use bulwark_config::{Config, ConsoleConfig};
use bulwark_console::{
    Backend, BackendError, BoxFuture, Counters, LicenseStatus, ServerStatus, TlsAcceptor,
    UpdateFuture,
};
use bulwark_server::control::Controller;
use bulwark_server::Context;

/// The running server as the console sees it.
pub struct ServerBackend {
    ctx: Arc<Context>,
    ctl: Arc<Controller>,
    /// The update "update now" runs (`[update]` as at start), when a source is configured.
    update: Option<Arc<bulwark_update::UpdateRequest>>,
}

impl ServerBackend {
    /// The console's backend over `ctx` and `ctl`; `update` is what "update now" runs.
    pub fn new(
        ctx: Arc<Context>,
        ctl: Arc<Controller>,
        update: Option<bulwark_update::UpdateRequest>,
    ) -> Self {
        Self {
            ctx,
            ctl,
            update: update.map(Arc::new),
        }
    }
}

impl Backend for ServerBackend {
    fn config(&self) -> Arc<Config> {
        self.ctx.snapshot.load().config.clone()
    }

    fn check_config(&self, config: &Config) -> bulwark_config::Findings {
        bulwark_server::Snapshot::check(config)
    }

    fn status(&self) -> ServerStatus {
        let snap = self.ctx.snapshot.load();
        ServerStatus {
            istag: snap.istag.clone(),
            uptime_secs: self.ctx.stats.uptime_secs(),
            database_version: snap.database.version().to_string(),
            license: self.ctx.license.as_ref().map(|l| LicenseStatus {
                state: l.describe(),
                allows_scanning: l.allows_scanning(),
                expiring_in_days: l.expiring_soon(),
            }),
        }
    }

    fn counters(&self) -> Counters {
        let s = self.ctx.stats.sample();
        Counters {
            requests: s.requests,
            objects: s.objects,
            bytes: s.bytes,
            connections: s.connections,
            connections_open: s.connections_open,
            in_flight: s.in_flight,
            database_loaded: s.database_loaded,
            scan_seconds: s.scan_seconds,
        }
    }

    fn reload(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.ctl.reload().await.map_err(BackendError::new) })
    }

    fn reload_db(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.ctl.reload_db().await.map_err(BackendError::new) })
    }

    fn update_available(&self) -> bool {
        self.update.is_some()
    }

    fn update(&self) -> Option<UpdateFuture> {
        let req = self.update.clone()?;
        Some(Box::pin(async move {
            let report = tokio::task::spawn_blocking(move || bulwark_update::run(&req))
                .await
                .map_err(|e| BackendError::new(format!("update task failed: {e}")))?;
            match report.exit_code() {
                0 | 1 => Ok(report.summary()),
                _ => Err(BackendError::new(report.summary())),
            }
        }))
    }
}

/// The console's HTTPS acceptor when `tls_cert` and `tls_key` are set; an error when only one
/// is, or when they cannot be used.
pub fn console_tls(cfg: &ConsoleConfig) -> anyhow::Result<Option<TlsAcceptor>> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let tls = bulwark_config::TlsConfig {
                cert: Some(cert.clone()),
                key: Some(key.clone()),
                ..Default::default()
            };
            bulwark_server::tls::acceptor(&tls)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("console TLS: {e}"))
        }
        _ => anyhow::bail!("console: console.tls_cert and console.tls_key go together"),
    }
}
