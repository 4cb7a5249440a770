//! What RELOAD and SHUTDOWN do: set by whoever starts the listener (`bulwark serve` hands in
//! its controller's database reload and stop).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why a database reload failed: the server's own error, whatever its type (this crate does
/// not know the server's).
pub type ReloadFailure = Box<dyn std::error::Error + Send + Sync>;

/// The future of a database reload: a message, or why it failed.
pub type ReloadFuture = Pin<Box<dyn Future<Output = Result<String, ReloadFailure>> + Send>>;

/// Starts a database reload.
pub type ReloadFn = Arc<dyn Fn() -> ReloadFuture + Send + Sync>;

/// Stops the server.
pub type StopFn = Arc<dyn Fn() + Send + Sync>;

/// The server operations clamd commands may trigger.
#[derive(Clone, Default)]
pub struct Hooks {
    /// RELOAD: reload the signature database (as `bulwark ctl reload-db`); none: RELOAD only
    /// answers.
    pub reload: Option<ReloadFn>,
    /// SHUTDOWN (obeyed only with `clamd.allow_shutdown`); none: ignored.
    pub shutdown: Option<StopFn>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("reload", &self.reload.is_some())
            .field("shutdown", &self.shutdown.is_some())
            .finish()
    }
}
