//! What every connection shares: the live snapshot, the statistics, the AV statistics log.

use std::sync::Arc;

use arc_swap::ArcSwap;

use bulwark_cluster::Cluster;
use bulwark_notify::Notifier;
use bulwark_syslog::CentralLog;

use crate::blocked::BlockedObjects;
use crate::licensing::Enforcer;
use crate::logfile::LogFile;
use crate::snapshot::Snapshot;
use crate::stats::Stats;

/// The server's shared state. The snapshot is swapped whole on reload; in-flight transactions
/// keep the one they started with.
#[derive(Debug)]
pub struct Context {
    /// The configuration, database and ISTag in force.
    pub snapshot: ArcSwap<Snapshot>,
    /// Counters and histograms.
    pub stats: Stats,
    /// The `av.stats` log: one line per scanned object.
    pub av_log: ArcSwap<LogFile>,
    /// Downloads recently found infected.
    pub blocked: BlockedObjects,
    /// The caches shared with the other instances through Redis, when `[cluster] redis` is
    /// set (started with the context; a change applies after a restart).
    pub cluster: Option<Arc<Cluster>>,
    /// Licence enforcement, when `[license] required = true`.
    pub license: Option<Enforcer>,
    /// Administrator notifications (swapped when `[notify]` changes on reload).
    pub notifier: ArcSwap<Notifier>,
    /// Verdict-cache hits and misses of the snapshots already replaced (each snapshot has its
    /// own cache), so that the exported counters never go down.
    pub retired_verdict_lookups: [std::sync::atomic::AtomicU64; 2],
    /// Keep-alive connections waiting for their next request, oldest first (closed to make
    /// room when the connection limit is reached).
    pub idle: crate::idle::IdleSet,
    /// Central logs: per-object records (and the report log) to syslog, `[log.syslog]`.
    pub central: Arc<CentralLog>,
}

impl Context {
    /// Shared state around a first snapshot, without central logs.
    pub fn new(
        snapshot: Snapshot,
        av_log: LogFile,
        license: Option<Enforcer>,
        notifier: Notifier,
    ) -> Arc<Self> {
        Self::with_central(snapshot, av_log, license, notifier, CentralLog::disabled())
    }

    /// Shared state around a first snapshot, sending per-object records through `central`
    /// (made from the snapshot's `[log.syslog]`, and shared with the report log's layer).
    pub fn with_central(
        snapshot: Snapshot,
        av_log: LogFile,
        license: Option<Enforcer>,
        notifier: Notifier,
        central: Arc<CentralLog>,
    ) -> Arc<Self> {
        let stats = Stats::new();
        apply_memory_budget(&snapshot);
        let blocked = BlockedObjects::new(snapshot.config.answer.blocked_url_max);
        let cluster = start_cluster(&snapshot.config.cluster);
        stats.database(snapshot.database.version());
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            stats,
            av_log: ArcSwap::from_pointee(av_log),
            blocked,
            cluster,
            license,
            notifier: ArcSwap::from_pointee(notifier),
            retired_verdict_lookups: Default::default(),
            idle: Default::default(),
            central,
        })
    }

    /// Swaps in a new snapshot; transactions already running keep the old one.
    pub fn install(&self, snapshot: Snapshot) {
        self.stats.database(snapshot.database.version());
        let new_db = snapshot.database.version() != self.snapshot.load().database.version();
        self.blocked.resize(snapshot.config.answer.blocked_url_max);
        apply_memory_budget(&snapshot);
        let old = self.snapshot.swap(Arc::new(snapshot));
        let [hits, misses] = &self.retired_verdict_lookups;
        hits.fetch_add(old.verdicts.hits(), std::sync::atomic::Ordering::Relaxed);
        misses.fetch_add(old.verdicts.misses(), std::sync::atomic::Ordering::Relaxed);
        if new_db {
            self.blocked.clear();
        }
    }
}

/// Sets the process's budget for object bytes in memory (`server.body_memory_bytes`, 0: no
/// limit; see `bulwark_spool::budget`).
fn apply_memory_budget(snapshot: &Snapshot) {
    let n = snapshot.config.server.body_memory_bytes;
    bulwark_spool::budget::GLOBAL.set_limit(if n == 0 { u64::MAX } else { n });
}

/// The shared caches, when `[cluster] redis` is set. Settings that cannot work (an unreadable
/// password file, no runtime) are logged and the instance runs with its local caches only.
fn start_cluster(cfg: &bulwark_config::ClusterConfig) -> Option<Arc<Cluster>> {
    if cfg.redis.is_empty() {
        return None;
    }
    match Cluster::start(cfg) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            tracing::error!(target: "bulwark::cluster", "{e}: the caches are not shared");
            None
        }
    }
}
