//! The background task that writes queued messages to the receiver: connects, reconnects with
//! backoff, counts what it drops, warns (at most once a minute), and on shutdown flushes what
//! is queued until a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::transport::{connect, Conn, Destination, SendError};

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most one warning about drops and failures per this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What was sent and dropped, since the process started (kept across reloads).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) dropped_failed: AtomicU64,
    pub(crate) dropped_too_large: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// The stop request a worker shares with its handle: a wake-up and a flush deadline.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    pub(crate) wake: Notify,
    pub(crate) deadline: OnceLock<Instant>,
}

/// One message delivered or given up, or the wait for a retry interrupted by a stop.
enum Delivery {
    Done,
    Interrupted(Vec<u8>),
}

/// The writer of one configuration's messages.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) rx: mpsc::Receiver<Vec<u8>>,
    pub(crate) dest: Destination,
    pub(crate) timeout: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) stop: Arc<Stop>,
    conn: Option<Conn>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Failing since the last success (for the warning and the "reachable again" note).
    failing: Option<String>,
    warned_at: Option<Instant>,
    /// Drops already told in a warning: queue full, the others.
    warned: (u64, u64),
}

impl Worker {
    pub(crate) fn new(
        rx: mpsc::Receiver<Vec<u8>>,
        dest: Destination,
        timeout: Duration,
        counters: Arc<Counters>,
        stop: Arc<Stop>,
    ) -> Self {
        let warned = (
            counters.dropped_full.load(Ordering::Relaxed),
            dropped_other(&counters),
        );
        Self {
            rx,
            dest,
            timeout,
            counters,
            stop,
            conn: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            failing: None,
            warned_at: None,
            warned,
        }
    }

    /// Sends until stopped, then flushes what is queued until the stop's deadline.
    pub(crate) async fn run(mut self) {
        let held = loop {
            let msg = tokio::select! {
                biased;
                _ = self.stop.wake.notified() => break None,
                m = self.rx.recv() => match m {
                    Some(m) => m,
                    // Every handle gone without a stop: nothing more will come.
                    None => break None,
                },
            };
            if let Delivery::Interrupted(m) = self.deliver(msg, None).await {
                break Some(m);
            }
            self.warn_if_due();
        };
        let deadline = self
            .stop
            .deadline
            .get()
            .copied()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        self.flush(held, deadline).await;
    }

    /// Delivers what is queued (and `held`) until `deadline`; the rest is counted as dropped.
    async fn flush(&mut self, held: Option<Vec<u8>>, deadline: Instant) {
        self.rx.close();
        if let Some(m) = held {
            self.deliver(m, Some(deadline)).await;
        }
        while let Ok(m) = self.rx.try_recv() {
            if Instant::now() >= deadline {
                bump(&self.counters.dropped_shutdown, 1 + self.rx.len() as u64);
                break;
            }
            self.deliver(m, Some(deadline)).await;
        }
        self.warned_at = None;
        self.warn_if_due();
        if let Some(c) = self.conn.take() {
            c.close(self.limit(Some(deadline))).await;
        }
    }

    /// The time one connection or send may take.
    fn limit(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => self
                .timeout
                .min(d.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => self.timeout,
        }
    }

    /// Sends `msg`, connecting first when needed. While the receiver is down the message
    /// waits for the next attempt (and the queue behind it fills); with a `deadline`, a
    /// message that cannot go before it is dropped.
    async fn deliver(&mut self, msg: Vec<u8>, deadline: Option<Instant>) -> Delivery {
        loop {
            if self.conn.as_ref().is_some_and(|c| !c.alive()) {
                self.conn = None;
            }
            if self.conn.is_none() {
                if let Some(at) = self.retry_at {
                    match deadline {
                        Some(d) if at >= d => {
                            bump(&self.counters.dropped_shutdown, 1);
                            return Delivery::Done;
                        }
                        Some(_) => tokio::time::sleep_until(at).await,
                        None => tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = self.stop.wake.notified() => return Delivery::Interrupted(msg),
                        },
                    }
                }
                match connect(&self.dest, self.limit(deadline)).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.failed(&e);
                        continue;
                    }
                }
            }
            let limit = self.limit(deadline);
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            return match conn.send(&msg, limit).await {
                Ok(()) => {
                    bump(&self.counters.sent, 1);
                    self.succeeded();
                    Delivery::Done
                }
                Err(SendError::TooLarge(n)) => {
                    bump(&self.counters.dropped_too_large, 1);
                    self.failing
                        .get_or_insert_with(|| format!("{n} bytes too large"));
                    Delivery::Done
                }
                Err(e) => {
                    bump(&self.counters.dropped_failed, 1);
                    if conn.reconnects() {
                        self.conn = None;
                        self.failed(&e);
                    } else {
                        self.failing = Some(e.to_string());
                    }
                    Delivery::Done
                }
            };
        }
    }

    /// A connection or send failed: the next attempt waits, longer each time.
    fn failed(&mut self, e: &SendError) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.failing = Some(e.to_string());
        self.warn_if_due();
    }

    fn succeeded(&mut self) {
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        if self.failing.take().is_some() {
            info!(receiver = %self.dest, "syslog receiver reachable again");
        }
    }

    /// At most once per [`WARN_EVERY`]: what was dropped since the last warning, and why.
    fn warn_if_due(&mut self) {
        let full = self.counters.dropped_full.load(Ordering::Relaxed);
        let other = dropped_other(&self.counters);
        let (new_full, new_other) = (full - self.warned.0, other - self.warned.1);
        if self.failing.is_none() && new_full == 0 && new_other == 0 {
            return;
        }
        if self.warned_at.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        warn!(
            receiver = %self.dest,
            error = self.failing.as_deref().unwrap_or("-"),
            dropped_queue_full = new_full,
            dropped_unsent = new_other,
            "syslog: receiver slow or down; messages are dropped while the queue is full, the \
             connection is retried with backoff"
        );
        self.warned = (full, other);
        self.warned_at = Some(Instant::now());
    }
}

/// Drops other than a full queue.
fn dropped_other(c: &Counters) -> u64 {
    c.dropped_failed.load(Ordering::Relaxed)
        + c.dropped_too_large.load(Ordering::Relaxed)
        + c.dropped_shutdown.load(Ordering::Relaxed)
}
