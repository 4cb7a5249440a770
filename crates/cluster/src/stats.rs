//! The cluster's counters, rendered as OpenMetrics text for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::codec::CacheKind;

/// Why Redis did not answer as hoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the timeout (a slow, stopped or unreachable Redis).
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// Redis refused the credentials (AUTH, ACL).
    Auth,
    /// Redis answered with an error.
    Reply,
    /// A value Bulwark cannot read (another format, another application's key).
    Format,
}

impl Failure {
    const ALL: [Failure; 5] = [
        Failure::Timeout,
        Failure::Connection,
        Failure::Auth,
        Failure::Reply,
        Failure::Format,
    ];

    /// The `kind` label on /metrics.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connection => "connection",
            Failure::Auth => "auth",
            Failure::Reply => "reply",
            Failure::Format => "format",
        }
    }

    /// The failure a Redis error stands for.
    pub fn of(e: &redis::RedisError) -> Self {
        let text = e.to_string().to_ascii_uppercase();
        if matches!(
            e.kind(),
            redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        ) || ["WRONGPASS", "NOAUTH", "NOPERM"]
            .iter()
            .any(|c| text.contains(c))
        {
            Failure::Auth
        } else if e.is_timeout() {
            Failure::Timeout
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            Failure::Connection
        } else {
            Failure::Reply
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A verdict another instance stored.
    Hit,
    /// Nothing stored.
    Miss,
    /// Redis was down: not asked (local caches only).
    Skipped,
    /// Redis did not answer in time, or answered with an error.
    Failed,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Hit,
        Outcome::Miss,
        Outcome::Skipped,
        Outcome::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

const KINDS: [CacheKind; 2] = [CacheKind::Blocked, CacheKind::Verdict];

fn kind_index(k: CacheKind) -> usize {
    match k {
        CacheKind::Blocked => 0,
        CacheKind::Verdict => 1,
    }
}

/// Every counter of the cluster layer.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) up: AtomicBool,
    errors: [AtomicU64; 5],
    lookups: [[AtomicU64; 4]; 2],
    stored: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    connects: AtomicU64,
    lookup_micros: AtomicU64,
    lookup_count: AtomicU64,
}

impl Stats {
    pub(crate) fn failure(&self, f: Failure) {
        let i = Failure::ALL.iter().position(|x| *x == f).unwrap_or(0);
        self.errors[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lookup(&self, k: CacheKind, o: Outcome) {
        let i = Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0);
        self.lookups[kind_index(k)][i].fetch_add(1, Ordering::Relaxed);
    }

    /// A lookup that reached Redis and took `d`.
    pub(crate) fn waited(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.lookup_micros.fetch_add(us, Ordering::Relaxed);
        self.lookup_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stored(&self, k: CacheKind, n: u64) {
        self.stored[kind_index(k)].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, k: CacheKind, n: u64) {
        self.dropped[kind_index(k)].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn connected(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    /// Lookups of `kind` that ended as `o` so far.
    pub fn lookups(&self, kind: CacheKind, o: Outcome) -> u64 {
        let i = Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0);
        self.lookups[kind_index(kind)][i].load(Ordering::Relaxed)
    }

    /// Failures of this kind so far.
    pub fn failures(&self, f: Failure) -> u64 {
        let i = Failure::ALL.iter().position(|x| *x == f).unwrap_or(0);
        self.errors[i].load(Ordering::Relaxed)
    }

    /// Values of `kind` written to Redis so far.
    pub fn stores(&self, kind: CacheKind) -> u64 {
        self.stored[kind_index(kind)].load(Ordering::Relaxed)
    }

    /// The series, in OpenMetrics text (no `# EOF`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &str| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{samples}");
        };
        family(
            "bulwark_cluster_redis_up",
            "gauge",
            "1 while the shared Redis answers; 0 while the caches are local only.",
            &format!(
                "bulwark_cluster_redis_up {}\n",
                u8::from(self.up.load(Ordering::Relaxed))
            ),
        );
        let mut s = String::new();
        for (f, n) in Failure::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                s,
                "bulwark_cluster_redis_errors_total{{kind=\"{}\"}} {}",
                f.label(),
                n.load(Ordering::Relaxed)
            );
        }
        family(
            "bulwark_cluster_redis_errors",
            "counter",
            "Redis failures by kind: timeout, connection, auth (credentials refused), reply (an \
             error answer), format (a value of another format, ignored).",
            &s,
        );
        family(
            "bulwark_cluster_redis_connects",
            "counter",
            "Connections made to Redis (the first one and every reconnection).",
            &format!(
                "bulwark_cluster_redis_connects_total {}\n",
                self.connects.load(Ordering::Relaxed)
            ),
        );
        let mut s = String::new();
        for k in KINDS {
            for (o, n) in Outcome::ALL.iter().zip(&self.lookups[kind_index(k)]) {
                let _ = writeln!(
                    s,
                    "bulwark_cluster_lookups_total{{cache=\"{}\",result=\"{}\"}} {}",
                    k.label(),
                    o.label(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        family(
            "bulwark_cluster_lookups",
            "counter",
            "Lookups in the shared caches by cache and result: hit, miss, skipped (Redis down: \
             local caches only), failed (timeout or error).",
            &s,
        );
        let mut s = String::new();
        for k in KINDS {
            for (what, n) in [
                ("stored", &self.stored[kind_index(k)]),
                ("dropped", &self.dropped[kind_index(k)]),
            ] {
                let _ = writeln!(
                    s,
                    "bulwark_cluster_stores_total{{cache=\"{}\",result=\"{what}\"}} {}",
                    k.label(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        family(
            "bulwark_cluster_stores",
            "counter",
            "Entries offered to the shared caches: stored, or dropped (Redis down or slow, \
             queue full, value too large).",
            &s,
        );
        family(
            "bulwark_cluster_lookup_seconds",
            "summary",
            "Time of the lookups that reached Redis.",
            &format!(
                "bulwark_cluster_lookup_seconds_sum {}\nbulwark_cluster_lookup_seconds_count {}\n",
                self.lookup_micros.load(Ordering::Relaxed) as f64 / 1e6,
                self.lookup_count.load(Ordering::Relaxed)
            ),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_from_the_start() {
        let s = Stats::default();
        s.lookup(CacheKind::Verdict, Outcome::Hit);
        s.failure(Failure::Timeout);
        s.waited(Duration::from_micros(1500));
        let text = s.render();
        for line in [
            "bulwark_cluster_redis_up 0\n",
            "# TYPE bulwark_cluster_redis_errors counter\n",
            "bulwark_cluster_redis_errors_total{kind=\"timeout\"} 1\n",
            "bulwark_cluster_redis_errors_total{kind=\"auth\"} 0\n",
            "bulwark_cluster_lookups_total{cache=\"verdict\",result=\"hit\"} 1\n",
            "bulwark_cluster_lookups_total{cache=\"blocked\",result=\"skipped\"} 0\n",
            "bulwark_cluster_stores_total{cache=\"blocked\",result=\"dropped\"} 0\n",
            "bulwark_cluster_lookup_seconds_sum 0.0015\n",
            "bulwark_cluster_lookup_seconds_count 1\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
