//! The caches a fleet of Bulwarks shares through Redis (SPEC F-FLEET-2): the blocked-object
//! cache (a download found infected on one instance is blocked at once on all) and the verdict
//! cache (an archive scanned once is not unpacked again anywhere).
//!
//! Redis is a second tier behind each instance's local caches and never a dependency: a lookup
//! waits at most `cluster.timeout_ms`; after a failure the instance stops asking (local caches
//! only, a rate-limited warning, `bulwark_cluster_redis_up 0`) while a background task probes
//! and reconnects, and sharing resumes once Redis answers again. Writes never wait: they queue
//! (bounded) for a background writer that pipelines them, each with its TTL.
//!
//! Keys and values are described in [`codec`]; the series on /metrics in [`Stats`].

pub mod codec;
mod link;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulwark_config::ClusterConfig;
use bulwark_engine::{SharedVerdicts, Status, Verdict, VerdictKey};
use redis::IntoConnectionInfo;

pub use codec::{CacheKind, ObjectId};
pub use stats::{Failure, Outcome, Stats};

use link::{Shared, Store};

/// Why sharing could not start (the instance then runs with its local caches only).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `cluster.redis` is not a Redis URL the client understands.
    #[error("cluster.redis: {0}")]
    Url(#[source] redis::RedisError),
    /// `cluster.password_file` or `cluster.ca_file` could not be read.
    #[error("{key} {}: {source}", path.display())]
    File {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `cluster.password_file` holds no password.
    #[error("cluster.password_file {}: the first line is empty", .0.display())]
    EmptyPassword(PathBuf),
    /// The TLS settings (`cluster.ca_file`) were refused.
    #[error("cluster.ca_file: {0}")]
    Tls(#[source] redis::RedisError),
    /// Not started inside a tokio runtime (the background tasks need one).
    #[error("the cluster layer needs a tokio runtime")]
    NoRuntime,
}

/// What the lookups and writes need to know of `[cluster]`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The URL with any password masked, for messages.
    pub(crate) target: String,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) verdict_ttl: Duration,
    pub(crate) share_blocked: bool,
    pub(crate) share_verdicts: bool,
}

/// A handle on the shared caches; cheap to clone. The background tasks end when the last
/// handle goes.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("target", &self.shared.settings.target)
            .field("up", &self.is_up())
            .finish()
    }
}

/// `url` with the password of its user part (if any) replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((user, host)) => {
            let name = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{name}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// The first line of `path`, trimmed.
fn first_line(key: &'static str, path: &std::path::Path) -> Result<String, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClusterError::File {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(ClusterError::EmptyPassword(path.to_path_buf()));
    }
    Ok(line)
}

fn client(cfg: &ClusterConfig) -> Result<redis::Client, ClusterError> {
    let info = cfg
        .redis
        .as_str()
        .into_connection_info()
        .map_err(ClusterError::Url)?;
    let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
    if let Some(u) = &cfg.username {
        settings = settings.set_username(u);
    }
    if let Some(p) = &cfg.password_file {
        settings = settings.set_password(first_line("cluster.password_file", p)?);
    }
    let info = info.set_redis_settings(settings);
    if cfg.redis.starts_with("rediss://") {
        // The redis crate's TLS takes rustls's process-wide crypto provider, which rustls can
        // choose by itself only when the final build enables exactly one provider feature (not
        // so when this crate is built alone): name ours, ring, as the rest of Bulwark. An
        // error means one is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    match &cfg.ca_file {
        Some(ca) if cfg.redis.starts_with("rediss://") => {
            let pem = std::fs::read(ca).map_err(|source| ClusterError::File {
                key: "cluster.ca_file",
                path: ca.clone(),
                source,
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            redis::Client::build_with_tls(info, certs).map_err(ClusterError::Tls)
        }
        _ => redis::Client::open(info).map_err(ClusterError::Url),
    }
}

impl Cluster {
    /// Starts sharing as `cfg` says: checks the settings, then connects in the background
    /// (lookups are skipped until Redis answers). Must run inside a tokio runtime.
    pub fn start(cfg: &ClusterConfig) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ClusterError::NoRuntime)?;
        let client = client(cfg)?;
        let settings = Settings {
            target: redacted(&cfg.redis),
            prefix: cfg.prefix.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
            verdict_ttl: Duration::from_secs(cfg.verdict_ttl_secs.max(1)),
            share_blocked: cfg.share_blocked,
            share_verdicts: cfg.share_verdicts,
        };
        let shared = link::start(settings, client, runtime);
        Ok(Self { shared })
    }

    /// The Redis URL, password masked.
    pub fn target(&self) -> &str {
        &self.shared.settings.target
    }

    /// True while Redis answers (lookups are asked); false while local caches only.
    pub fn is_up(&self) -> bool {
        self.shared.is_up()
    }

    /// Whether the blocked-object cache is shared (`cluster.share_blocked`).
    pub fn shares_blocked(&self) -> bool {
        self.shared.settings.share_blocked
    }

    /// Whether the verdict cache is shared (`cluster.share_verdicts`).
    pub fn shares_verdicts(&self) -> bool {
        self.shared.settings.share_verdicts
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The series for /metrics, in OpenMetrics text.
    pub fn metrics(&self) -> String {
        self.shared.stats.render()
    }

    /// The verdict that blocked object `id` on some instance, with the time it stays blocked;
    /// `None` when unknown, or when Redis is down or does not answer within the timeout.
    pub async fn blocked(&self, id: &ObjectId) -> Option<(Verdict, Duration)> {
        if !self.shares_blocked() {
            return None;
        }
        let s = &self.shared;
        let key = codec::blocked_key(&s.settings.prefix, id);
        let mut p = redis::pipe();
        p.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        let (value, pttl): (Option<Vec<u8>>, i64) = s.ask(CacheKind::Blocked, &p).await?;
        let v = s.read(CacheKind::Blocked, value.as_deref())?;
        if v.status != Status::Infected {
            s.stats.failure(Failure::Format);
            return None;
        }
        // -1 (no expiry) never happens to our keys; -2: gone since the GET.
        let left = u64::try_from(pttl).ok().filter(|ms| *ms > 0)?;
        Some((v, Duration::from_millis(left)))
    }

    /// Shares that object `id` was found infected by `verdict`, for `ttl`; never waits (the
    /// entry is dropped when Redis is down or the write queue is full).
    pub fn remember_blocked(&self, id: &ObjectId, verdict: &Verdict, ttl: Duration) {
        if !self.shares_blocked() || verdict.status != Status::Infected || ttl.is_zero() {
            return;
        }
        let key = codec::blocked_key(&self.shared.settings.prefix, id);
        self.shared.offer(CacheKind::Blocked, key, verdict, ttl);
    }
}

impl SharedVerdicts for Cluster {
    fn get(&self, key: &VerdictKey) -> Option<Verdict> {
        if !self.shares_verdicts() {
            return None;
        }
        let s = &self.shared;
        if !s.is_up() {
            s.stats.lookup(CacheKind::Verdict, Outcome::Skipped);
            return None;
        }
        // Called from a scan thread: the lookup runs on the runtime, this thread waits for it
        // at most the timeout (plus a little for scheduling).
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let key = codec::verdict_key(&s.settings.prefix, key);
        let task = self.shared.clone();
        s.runtime.spawn(async move {
            let _ = tx.send(task.verdict(&key).await);
        });
        rx.recv_timeout(s.settings.timeout + Duration::from_millis(5))
            .ok()
            .flatten()
    }

    fn put(&self, key: &VerdictKey, verdict: &Verdict) {
        if !self.shares_verdicts() || !matches!(verdict.status, Status::Clean | Status::Infected) {
            return;
        }
        let s = &self.shared;
        let key = codec::verdict_key(&s.settings.prefix, key);
        s.offer(CacheKind::Verdict, key, verdict, s.settings.verdict_ttl);
    }
}

impl Shared {
    /// The verdict stored under `key`, if any and readable.
    async fn verdict(&self, key: &str) -> Option<Verdict> {
        let mut p = redis::pipe();
        p.cmd("GET").arg(key);
        let (value,): (Option<Vec<u8>>,) = self.ask(CacheKind::Verdict, &p).await?;
        self.read(CacheKind::Verdict, value.as_deref())
    }

    /// A value read from Redis: counted as a hit, a miss, or an unreadable value.
    fn read(&self, kind: CacheKind, value: Option<&[u8]>) -> Option<Verdict> {
        let Some(b) = value else {
            self.stats.lookup(kind, Outcome::Miss);
            return None;
        };
        match codec::decode(b) {
            Ok(v) => {
                self.stats.lookup(kind, Outcome::Hit);
                Some(v)
            }
            Err(e) => {
                tracing::debug!(target: "bulwark::cluster", "ignored a shared {} entry: {e}", kind.label());
                self.stats.failure(Failure::Format);
                self.stats.lookup(kind, Outcome::Miss);
                None
            }
        }
    }

    /// Queues `verdict` under `key` for the writer.
    fn offer(&self, kind: CacheKind, key: String, verdict: &Verdict, ttl: Duration) {
        let Some(value) = codec::encode(verdict) else {
            self.stats.dropped(kind, 1);
            return;
        };
        if !self.is_up() {
            self.stats.dropped(kind, 1);
            return;
        }
        let store = Store {
            kind,
            key,
            value,
            ttl,
        };
        if self.writes.try_send(store).is_err() {
            self.stats.dropped(kind, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redacted("redis://bulwark:s3cret@h:6379/0"),
            "redis://bulwark:***@h:6379/0"
        );
        assert_eq!(redacted("rediss://:pw@h/0"), "rediss://:***@h/0");
        assert_eq!(redacted("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_before_any_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _g = rt.enter();
        let bad = ClusterConfig {
            redis: "redis://[nonsense".into(),
            ..ClusterConfig::default()
        };
        assert!(matches!(Cluster::start(&bad), Err(ClusterError::Url(_))));
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = ClusterConfig {
            redis: "redis://127.0.0.1:1/0".into(),
            password_file: Some(dir.path().join("none")),
            ..ClusterConfig::default()
        };
        assert!(matches!(
            Cluster::start(&missing),
            Err(ClusterError::File { .. })
        ));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let empty_cfg = ClusterConfig {
            password_file: Some(empty),
            ..missing
        };
        assert!(matches!(
            Cluster::start(&empty_cfg),
            Err(ClusterError::EmptyPassword(_))
        ));
    }
}
