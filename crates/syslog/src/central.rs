//! [`CentralLog`]: the process's handle on its syslog output, swapped whole on reload.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::format::Identity;
use crate::record::{ObjectRecord, RecordKind, ReportRecord};
use crate::transport::Destination;
use crate::worker::{bump, Counters, Stop, Worker};
use bulwark_config::syslog::Objects;
use bulwark_config::SyslogConfig;

/// The target of the per-object lines in the report log: left out of the syslog report when
/// the per-object records are sent, which carry the same and more.
pub const ACCESS_TARGET: &str = "bulwark::access";

/// Counters since the process started, over every configuration it ran with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyslogStats {
    /// Messages the receiver took (a datagram sent, or bytes written to TCP).
    pub sent: u64,
    /// Messages dropped because the queue was full (receiver slow or down).
    pub dropped_queue_full: u64,
    /// Messages whose send failed (connection refused or reset, timeout).
    pub dropped_send_failed: u64,
    /// Messages too large for one datagram.
    pub dropped_too_large: u64,
    /// Messages still queued when the shutdown's flush deadline passed.
    pub dropped_shutdown: u64,
}

/// One configuration's sender: its queue, its identity, its worker.
#[derive(Debug)]
struct Sender {
    objects: Objects,
    report: bool,
    identity: Identity,
    tx: mpsc::Sender<Vec<u8>>,
    stop: Arc<Stop>,
    /// The worker until [`CentralLog::start`] spawns it, then its task.
    worker: Mutex<(Option<Worker>, Option<JoinHandle<()>>)>,
}

impl Sender {
    fn new(cfg: &SyslogConfig, counters: &Arc<Counters>) -> Option<Self> {
        let dest = Destination::of(cfg)?;
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let stop = Arc::new(Stop::default());
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let worker = Worker::new(rx, dest, timeout, counters.clone(), stop.clone());
        Some(Self {
            objects: cfg.objects,
            report: cfg.report,
            identity: Identity::new(cfg),
            tx,
            stop,
            worker: Mutex::new((Some(worker), None)),
        })
    }

    /// Spawns the worker, once (inside a tokio runtime).
    fn start(&self) {
        let mut w = match self.worker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(worker) = w.0.take() {
            w.1 = Some(tokio::spawn(worker.run()));
        }
    }

    /// Queues the message `make` builds, unless the queue is full (counted; the message is
    /// then not even built). Never waits.
    fn enqueue(&self, counters: &Counters, make: impl FnOnce(&Identity) -> Vec<u8>) {
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(make(&self.identity)),
            Err(_) => bump(&counters.dropped_full, 1),
        }
    }

    /// Stops the worker after it delivered what is queued, or at `grace` at the latest.
    async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.stop.deadline.set(deadline);
        self.stop.wake.notify_one();
        let task = {
            let mut w = match self.worker.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if let Some(never_started) = w.0.take() {
                let queued = never_started.rx.len() as u64;
                bump(&never_started.counters.dropped_shutdown, queued);
            }
            w.1.take()
        };
        if let Some(mut t) = task {
            // The worker keeps to the deadline; the margin covers a last close.
            if tokio::time::timeout(grace + Duration::from_millis(500), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

/// Where the central logs go: the sender of the configuration in force (none when
/// `[log.syslog]` is off) and the counters of all of them. Cheap to consult on every object.
#[derive(Debug, Default)]
pub struct CentralLog {
    current: ArcSwapOption<Sender>,
    counters: Arc<Counters>,
}

impl CentralLog {
    /// A central log for `cfg`. Messages are queued at once; they are written once
    /// [`CentralLog::start`] has run inside a tokio runtime (so the messages of a start-up
    /// that comes before the runtime are not lost).
    pub fn new(cfg: &SyslogConfig) -> Arc<Self> {
        let counters = Arc::new(Counters::default());
        let current = ArcSwapOption::from(Sender::new(cfg, &counters).map(Arc::new));
        Arc::new(Self { current, counters })
    }

    /// A central log that sends nothing.
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Starts writing (call inside a tokio runtime).
    pub fn start(&self) {
        if let Some(s) = self.current.load().as_ref() {
            s.start();
        }
    }

    /// True when per-object records are sent (so the objects' SHA-256 is worth computing).
    pub fn wants_objects(&self) -> bool {
        self.current
            .load()
            .as_ref()
            .is_some_and(|s| s.objects != Objects::Off)
    }

    /// Sends the record of one object (if `[log.syslog] objects` wants its kind).
    pub fn object(&self, r: &ObjectRecord<'_>) {
        let cur = self.current.load();
        let Some(s) = cur.as_ref() else { return };
        let wanted = match s.objects {
            Objects::All => true,
            Objects::Detections => r.kind != RecordKind::Clean,
            Objects::Off => false,
        };
        if wanted {
            s.enqueue(&self.counters, |id| id.object(r, OffsetDateTime::now_utc()));
        }
    }

    /// True when report-log events of `target` are sent: the report is on, the event is not
    /// the syslog output's own (no feedback loop), and it is not a per-object line already
    /// sent as a record.
    pub fn wants_report(&self, target: &str) -> bool {
        let cur = self.current.load();
        let Some(s) = cur.as_ref() else { return false };
        s.report
            && !target.starts_with("bulwark_syslog")
            && !(target == ACCESS_TARGET && s.objects != Objects::Off)
    }

    /// Sends one report-log message (callers check [`CentralLog::wants_report`] first).
    pub fn report(&self, r: &ReportRecord<'_>) {
        if let Some(s) = self.current.load().as_ref() {
            s.enqueue(&self.counters, |id| id.report(r, OffsetDateTime::now_utc()));
        }
    }

    /// Switches to `cfg` (a reload): a new sender starts at once; the old one delivers what
    /// it has queued, within `grace`, in the background. Call inside a tokio runtime.
    pub fn reconfigure(&self, cfg: &SyslogConfig, grace: Duration) {
        let new = Sender::new(cfg, &self.counters).map(Arc::new);
        if let Some(s) = &new {
            s.start();
        }
        if let Some(old) = self.current.swap(new) {
            tokio::spawn(async move { old.shutdown(grace).await });
        }
    }

    /// Stops sending: what is queued is delivered until `grace` passes, the rest dropped
    /// and counted. Returns within about `grace`, whatever the receiver does.
    pub async fn shutdown(&self, grace: Duration) {
        if let Some(s) = self.current.swap(None) {
            s.shutdown(grace).await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> SyslogStats {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        SyslogStats {
            sent: get(&c.sent),
            dropped_queue_full: get(&c.dropped_full),
            dropped_send_failed: get(&c.dropped_failed),
            dropped_too_large: get(&c.dropped_too_large),
            dropped_shutdown: get(&c.dropped_shutdown),
        }
    }

    /// The host name the records carry (for the logs at start).
    pub fn hostname(&self) -> Option<String> {
        self.current
            .load()
            .as_ref()
            .map(|s| s.identity.hostname().to_string())
    }
}
