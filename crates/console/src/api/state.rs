//! What every handler shares: the backend, the console's own state (sessions, log-in limits,
//! samples, the last update) and the configuration file's path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use crate::auth::{LoginLimiter, Sessions, VerifyPool};
use crate::backend::Backend;
use crate::sampler::{self, Ring, Sample};
use crate::ConsoleConfig;

use super::model::UpdateReport;

/// Password verifications run at once (Argon2 with the crate's defaults needs ~19 MiB each).
pub(crate) const MAX_VERIFY_RUNNING: usize = 2;

/// What every handler shares.
pub(crate) struct Shared {
    /// The server.
    pub backend: Arc<dyn Backend>,
    /// The file the server was started with (`--config`), which the editor writes.
    pub config_path: Option<PathBuf>,
    /// Whether the console speaks HTTPS.
    pub tls: bool,
    /// Samples of the counters, one hour.
    pub ring: Mutex<Ring>,
    /// Logged-in browsers.
    pub sessions: Sessions,
    /// Log-in attempts (and wrong tokens) per address.
    pub limiter: LoginLimiter,
    /// Argon2 verifications running at once (each takes ~19 MiB): log-ins beyond
    /// `MAX_VERIFY_WAITING` waiting are answered `429` instead of growing memory.
    pub verify: tokio::sync::Semaphore,
    /// Log-ins waiting for a verification.
    pub verify_waiting: AtomicUsize,
    /// The threads that verify passwords.
    pub verify_pool: VerifyPool,
    /// A database update runs.
    pub updating: AtomicBool,
    /// How the last update started here went.
    pub last_update: Mutex<Option<UpdateReport>>,
    /// Held while a configuration edit is checked, written and reloaded.
    pub edit: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The state around `backend`, with a first sample taken.
    pub fn new(backend: Arc<dyn Backend>, config_path: Option<PathBuf>, tls: bool) -> Arc<Self> {
        let interval = backend.config().console.sample_interval_secs;
        let s = Arc::new(Self {
            backend,
            config_path,
            tls,
            ring: Mutex::new(Ring::new(interval)),
            sessions: Sessions::default(),
            limiter: LoginLimiter::default(),
            verify: tokio::sync::Semaphore::new(MAX_VERIFY_RUNNING),
            verify_waiting: AtomicUsize::new(0),
            verify_pool: VerifyPool::new(MAX_VERIFY_RUNNING),
            updating: AtomicBool::new(false),
            last_update: Mutex::new(None),
            edit: tokio::sync::Mutex::new(()),
        });
        let first = s.sample_now();
        if let Ok(mut r) = s.ring.lock() {
            r.push(first);
        }
        s
    }

    /// The counters now.
    pub fn sample_now(&self) -> Sample {
        Sample {
            t: sampler::unix_now(),
            counters: self.backend.counters(),
        }
    }

    /// The console's settings in force.
    pub fn console(&self) -> ConsoleConfig {
        self.backend.config().console.clone()
    }

    /// The configuration file's path as text, if any.
    pub fn config_path_text(&self) -> Option<String> {
        self.config_path.as_ref().map(|p| p.display().to_string())
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config_path", &self.config_path)
            .field("tls", &self.tls)
            .finish()
    }
}
