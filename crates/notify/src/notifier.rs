//! The [`Notifier`] handle and its worker task.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::event::{Event, Message};
use crate::gate::{Gate, Verdict};
use crate::webhook::Webhook;
use bulwark_config::NotifyConfig;

use crate::script;

/// Deliveries (one message to all its targets) running at once. A hanging script holds one
/// slot until its timeout; the others keep going.
pub const MAX_CONCURRENT: usize = 4;

/// Counters since the notifier was spawned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NotifyStats {
    /// Deliveries that succeeded (one per target — script, webhook — per message).
    pub sent: u64,
    /// Deliveries that failed: spawn error, non-zero exit, timeout, transport error, non-2xx.
    pub failed: u64,
    /// Events dropped because the queue was full (or the notifier was shut down).
    pub dropped_full: u64,
    /// Events held back as repeats inside their dedup window.
    pub suppressed_dedup: u64,
    /// Events dropped by the per-minute rate limit.
    pub dropped_rate: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped_full: AtomicU64,
    suppressed_dedup: AtomicU64,
    dropped_rate: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Gate plus the drops not yet reported in a message.
#[derive(Debug)]
struct GateState {
    gate: Gate,
    dropped_since: u64,
}

/// Where messages go.
#[derive(Debug)]
struct Targets {
    script: Option<PathBuf>,
    webhook: Option<Webhook>,
    timeout: Duration,
}

#[derive(Debug)]
struct Inner {
    config: NotifyConfig,
    tx: Option<mpsc::Sender<Message>>,
    gate: Mutex<GateState>,
    counters: Arc<Counters>,
    closed: AtomicBool,
    stop: Arc<Notify>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// Handle to the notification worker: cheap to clone, [`Notifier::notify`] never blocks.
///
/// Dropping every handle lets the worker finish what is queued in the background;
/// [`Notifier::shutdown`] does the same and waits for it, within a bound.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    /// Starts the worker for `config`. Panics outside a tokio runtime when a target is set. With neither script nor
    /// webhook configured nothing is started and [`Notifier::notify`] does nothing. Values
    /// [`NotifyConfig::validate`] would refuse are clamped (timeout and queue to at least 1).
    pub fn spawn(config: NotifyConfig) -> Notifier {
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(Notify::new());
        let (tx, worker) = if config.is_enabled() {
            let (tx, rx) = mpsc::channel(config.queue.max(1));
            let targets = Arc::new(Targets {
                script: config.script.clone(),
                webhook: config.webhook.as_deref().map(|u| Webhook::new(u, timeout)),
                timeout,
            });
            let worker = tokio::spawn(run_worker(rx, targets, counters.clone(), stop.clone()));
            (Some(tx), Some(worker))
        } else {
            (None, None)
        };
        let gate = Gate::new(
            Duration::from_secs(config.dedup_window_secs),
            config.max_per_minute,
        );
        Notifier {
            inner: Arc::new(Inner {
                config,
                tx,
                gate: Mutex::new(GateState {
                    gate,
                    dropped_since: 0,
                }),
                counters,
                closed: AtomicBool::new(false),
                stop,
                worker: Mutex::new(worker),
            }),
        }
    }

    /// A notifier that sends nothing (no runtime needed).
    pub fn disabled() -> Notifier {
        Notifier::spawn(NotifyConfig {
            script: None,
            webhook: None,
            ..NotifyConfig::default()
        })
    }

    /// True when a script or webhook is configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.tx.is_some()
    }

    /// Queues `event` for delivery, unless its kind is not wanted, it is a repeat inside its
    /// dedup window, it is over the rate limit, or the queue is full (each counted). Returns
    /// at once: a short lock, no I/O, no waiting.
    pub fn notify(&self, event: Event) {
        let inner = &*self.inner;
        let Some(tx) = &inner.tx else { return };
        if !inner.config.wants(event.kind()) {
            return;
        }
        if inner.closed.load(Ordering::Relaxed) {
            bump(&inner.counters.dropped_full);
            return;
        }
        let key = event.dedup_key();
        let now = Instant::now();
        let mut st = match inner.gate.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match st.gate.check(&key, now) {
            Verdict::Suppressed => {
                bump(&inner.counters.suppressed_dedup);
                return;
            }
            Verdict::RateLimited => {
                bump(&inner.counters.dropped_rate);
                st.dropped_since += 1;
                tracing::debug!(
                    kind = event.kind(),
                    "notification over the rate limit, dropped"
                );
                return;
            }
            Verdict::Pass => {}
        }
        let Ok(permit) = tx.try_reserve() else {
            bump(&inner.counters.dropped_full);
            st.dropped_since += 1;
            tracing::debug!(kind = event.kind(), "notification queue full, dropped");
            return;
        };
        let repeats = st.gate.commit(&key, now);
        let dropped = std::mem::take(&mut st.dropped_since);
        drop(st);
        permit.send(Message::new(event, repeats, dropped));
    }

    /// The counters so far.
    pub fn stats(&self) -> NotifyStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NotifyStats {
            sent: get(&c.sent),
            failed: get(&c.failed),
            dropped_full: get(&c.dropped_full),
            suppressed_dedup: get(&c.suppressed_dedup),
            dropped_rate: get(&c.dropped_rate),
        }
    }

    /// Stops accepting events and delivers what is queued, waiting at most `timeout_secs`
    /// plus one second; what is still running then is abandoned (scripts are killed).
    pub async fn shutdown(&self) {
        let secs = self.inner.config.timeout_secs.max(1) + 1;
        self.shutdown_within(Duration::from_secs(secs)).await;
    }

    /// [`Notifier::shutdown`] with an explicit bound. Later calls return at once.
    pub async fn shutdown_within(&self, bound: Duration) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.stop.notify_one();
        let worker = match self.inner.worker.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(mut worker) = worker else { return };
        if tokio::time::timeout(bound, &mut worker).await.is_err() {
            tracing::warn!("notifications still running after {bound:?} at shutdown, abandoned");
            worker.abort();
        }
    }
}

/// Receives messages and runs at most [`MAX_CONCURRENT`] deliveries at once until stopped
/// (then drains the queue) or every sender is gone.
async fn run_worker(
    mut rx: mpsc::Receiver<Message>,
    targets: Arc<Targets>,
    counters: Arc<Counters>,
    stop: Arc<Notify>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.notified() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            msg = rx.recv() => match msg {
                Some(msg) => start(msg, &slots, &mut tasks, &targets, &counters).await,
                None => break,
            },
        }
    }
    rx.close();
    while let Some(msg) = rx.recv().await {
        start(msg, &slots, &mut tasks, &targets, &counters).await;
    }
    while tasks.join_next().await.is_some() {}
}

/// Waits for a free slot, then delivers `msg` in its own task.
async fn start(
    msg: Message,
    slots: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
    targets: &Arc<Targets>,
    counters: &Arc<Counters>,
) {
    while tasks.try_join_next().is_some() {}
    let Ok(slot) = slots.clone().acquire_owned().await else {
        return;
    };
    let targets = targets.clone();
    let counters = counters.clone();
    tasks.spawn(async move {
        deliver(&msg, &targets, &counters).await;
        drop(slot);
    });
}

/// Sends `msg` to the script and the webhook concurrently; counts and logs each outcome.
async fn deliver(msg: &Message, targets: &Targets, counters: &Counters) {
    let kind = msg.event.kind();
    let script = async {
        let path = targets.script.as_deref()?;
        Some(match script::run(path, msg, targets.timeout).await {
            Ok(out) => {
                tracing::debug!(kind, script = %path.display(), stdout = %out.stdout, "notify script done");
                true
            }
            Err(e) => {
                tracing::warn!(kind, script = %path.display(), error = %e, "notify script failed");
                false
            }
        })
    };
    let webhook = async {
        let hook = targets.webhook.as_ref()?;
        Some(match hook.post(msg.to_json()).await {
            Ok(status) => {
                tracing::debug!(kind, status, "notify webhook done");
                true
            }
            Err(e) => {
                tracing::warn!(kind, webhook = %hook.redacted_url(), error = %e, "notify webhook failed");
                false
            }
        })
    };
    let (a, b) = tokio::join!(script, webhook);
    for ok in [a, b].into_iter().flatten() {
        bump(if ok { &counters.sent } else { &counters.failed });
    }
}
