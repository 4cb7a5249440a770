//! The connection to Redis and its two background tasks: the supervisor (connects, probes,
//! reconnects with backoff, says when sharing stops and resumes) and the writer (pipelines the
//! queued entries, each with its TTL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};

use crate::codec::CacheKind;
use crate::stats::{Failure, Outcome, Stats};
use crate::Settings;

/// Longest wait for a connection (TCP, TLS, AUTH) to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a probe's PING.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a pipeline of writes.
const STORE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a healthy connection is probed.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// First and longest wait between two attempts while Redis does not answer.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection that failed sooner than this after it came up waits longer next time (a
/// Redis that answers PING but not lookups in time does not make every request wait).
const STABLE: Duration = Duration::from_secs(10);
/// Entries waiting for the writer; more are dropped (and counted).
const WRITE_QUEUE: usize = 1024;
/// Entries per pipeline.
const WRITE_BATCH: usize = 64;
/// At most one warning per this interval (the others are counted in the next one).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One entry for the writer.
pub(crate) struct Store {
    pub(crate) kind: CacheKind,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    pub(crate) ttl: Duration,
}

/// What the handles, the lookups and the tasks share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// The connection while one is open (lookups only use it while `stats.up`).
    conn: ArcSwapOption<MultiplexedConnection>,
    pub(crate) stats: Stats,
    /// Tells the supervisor that a lookup or a write failed.
    wake: Notify,
    pub(crate) writes: mpsc::Sender<Store>,
    pub(crate) runtime: tokio::runtime::Handle,
    warnings: RateLimit,
}

/// Starts the supervisor and the writer on `runtime`.
pub(crate) fn start(
    settings: Settings,
    client: redis::Client,
    runtime: tokio::runtime::Handle,
) -> Arc<Shared> {
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    info!(
        target: "bulwark::cluster",
        redis = %settings.target,
        blocked = settings.share_blocked,
        verdicts = settings.share_verdicts,
        "sharing caches through Redis"
    );
    let shared = Arc::new(Shared {
        settings,
        conn: ArcSwapOption::empty(),
        stats: Stats::default(),
        wake: Notify::new(),
        writes: tx,
        runtime: runtime.clone(),
        warnings: RateLimit::default(),
    });
    runtime.spawn(supervise(Arc::downgrade(&shared), client));
    runtime.spawn(write(Arc::downgrade(&shared), rx));
    shared
}

impl Shared {
    pub(crate) fn is_up(&self) -> bool {
        self.stats.up.load(Ordering::Relaxed)
    }

    /// Runs `pipe` within the lookup timeout; `None` when Redis is down (not asked) or did not
    /// answer in time (then lookups stop until the supervisor sees it answer again).
    pub(crate) async fn ask<T: redis::FromRedisValue>(
        &self,
        kind: CacheKind,
        pipe: &redis::Pipeline,
    ) -> Option<T> {
        let conn = match (self.is_up(), self.conn.load_full()) {
            (true, Some(c)) => c,
            _ => {
                self.stats.lookup(kind, Outcome::Skipped);
                return None;
            }
        };
        let mut c = MultiplexedConnection::clone(&conn);
        let started = Instant::now();
        let r = tokio::time::timeout(self.settings.timeout, pipe.query_async::<T>(&mut c)).await;
        self.stats.waited(started.elapsed());
        let (failure, why) = match r {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => (Failure::of(&e), e.to_string()),
            Err(_) => (
                Failure::Timeout,
                format!("no answer within {} ms", self.settings.timeout.as_millis()),
            ),
        };
        self.stats.lookup(kind, Outcome::Failed);
        self.failed(failure, &why);
        None
    }

    /// A lookup or write failed: stop asking until the supervisor sees Redis answer.
    fn failed(&self, f: Failure, why: &str) {
        self.stats.failure(f);
        if self.stats.up.swap(false, Ordering::Relaxed) {
            self.warn(&format!("{why}; local caches only until it answers again"));
            self.wake.notify_one();
        }
    }

    fn warn(&self, msg: &str) {
        if let Some(suppressed) = self.warnings.allow() {
            warn!(
                target: "bulwark::cluster",
                redis = %self.settings.target,
                suppressed,
                "Redis: {msg}"
            );
        }
    }

    /// The connection answered a probe: lookups may use it.
    fn answered(&self) {
        if !self.stats.up.swap(true, Ordering::Relaxed) {
            info!(
                target: "bulwark::cluster",
                redis = %self.settings.target,
                "Redis answers: the caches are shared"
            );
        }
    }
}

/// At most one message per [`WARN_EVERY`]; counts the others.
#[derive(Default)]
struct RateLimit {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimit {
    /// `Some(messages suppressed since the last one)` when one may go out now.
    fn allow(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(Instant::now());
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// A new connection, authenticated and answering PING.
async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, (Failure, String)> {
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    let made = tokio::time::timeout(
        CONNECT_TIMEOUT + PROBE_TIMEOUT,
        client.get_multiplexed_async_connection_with_config(&cfg),
    )
    .await;
    let mut conn = match made {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err((Failure::of(&e), e.to_string())),
        Err(_) => return Err((Failure::Timeout, "no answer while connecting".into())),
    };
    ping(&mut conn).await?;
    Ok(conn)
}

async fn ping(conn: &mut MultiplexedConnection) -> Result<(), (Failure, String)> {
    let r = tokio::time::timeout(
        PROBE_TIMEOUT,
        redis::cmd("PING").query_async::<String>(conn),
    )
    .await;
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((Failure::of(&e), e.to_string())),
        Err(_) => Err((Failure::Timeout, "no answer to PING".into())),
    }
}

/// The supervisor: keeps a connection that answers, or says why there is none.
async fn supervise(shared: Weak<Shared>, client: redis::Client) {
    let mut backoff = MIN_BACKOFF;
    let mut up_since: Option<Instant> = None;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let current = s.conn.load_full();
        let probed = match current {
            Some(c) => ping(&mut MultiplexedConnection::clone(&c)).await,
            None => match connect(&client).await {
                Ok(c) => {
                    s.stats.connected();
                    s.conn.store(Some(Arc::new(c)));
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        match probed {
            Ok(()) => {
                if !s.is_up() {
                    up_since = Some(Instant::now());
                }
                s.answered();
                // Wait for the next probe, or for a lookup that failed.
                tokio::select! {
                    _ = s.wake.notified() => {}
                    _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
                }
                if s.is_up() {
                    backoff = MIN_BACKOFF;
                    continue;
                }
                // A lookup failed: probe again after a pause that grows while the
                // connection keeps failing soon after coming up.
                backoff = match up_since {
                    Some(t) if t.elapsed() < STABLE => (backoff * 2).min(MAX_BACKOFF),
                    _ => MIN_BACKOFF,
                };
            }
            Err((f, why)) => {
                s.conn.store(None);
                s.stats.failure(f);
                s.stats.up.store(false, Ordering::Relaxed);
                let what = match f {
                    Failure::Auth => format!("credentials refused: {why}"),
                    _ => why,
                };
                s.warn(&format!(
                    "{what}; local caches only, retrying in {} ms",
                    backoff.as_millis()
                ));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        drop(s);
        tokio::time::sleep(backoff).await;
    }
}

/// The writer: sends queued entries in pipelines while Redis answers, drops them otherwise.
async fn write(shared: Weak<Shared>, mut rx: mpsc::Receiver<Store>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        let Some(s) = shared.upgrade() else { return };
        let conn = match (s.is_up(), s.conn.load_full()) {
            (true, Some(c)) => c,
            _ => {
                for e in batch.drain(..) {
                    s.stats.dropped(e.kind, 1);
                }
                continue;
            }
        };
        let mut pipe = redis::pipe();
        for e in &batch {
            let ms = u64::try_from(e.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            pipe.cmd("SET")
                .arg(&e.key)
                .arg(&e.value)
                .arg("PX")
                .arg(ms)
                .ignore();
        }
        let mut c = MultiplexedConnection::clone(&conn);
        let r = tokio::time::timeout(STORE_TIMEOUT, pipe.query_async::<()>(&mut c)).await;
        let failure = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((Failure::of(&e), e.to_string())),
            Err(_) => Some((Failure::Timeout, "writes not acknowledged in time".into())),
        };
        for e in batch.drain(..) {
            match failure {
                None => s.stats.stored(e.kind, 1),
                Some(_) => s.stats.dropped(e.kind, 1),
            }
        }
        if let Some((f, why)) = failure {
            s.failed(f, &why);
        }
    }
}
