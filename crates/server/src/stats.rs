//! Process-wide counters (atomics), read by the statistics writers and the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// Connection-level counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and served.
    pub connections_accepted: AtomicU64,
    /// Connections refused because the client address is not in `[access] allow`.
    pub connections_refused_access: AtomicU64,
    /// Connections refused because `max_connections` was reached.
    pub connections_refused_limit: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// Connections currently open.
    pub connections_open: AtomicU64,
}

impl Stats {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
