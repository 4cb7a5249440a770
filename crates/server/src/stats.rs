//! Counters and histograms of everything the server does, in one Prometheus registry. The
//! `/metrics` endpoint and the kav4proxy-style `counter.stats` file read the same values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

/// Statuses counted, in `counter.stats` order, with their label value.
pub const STATUSES: [&str; 12] = [
    "clean",
    "infected",
    "suspicious",
    "warning",
    "cured",
    "protected",
    "corrupted",
    "error",
    "too_large",
    "limits_exceeded",
    "license_error",
    "bases_error",
];

/// Request methods counted (`bulwark_icap_requests_total{method}`), each present from the start.
pub const METHODS: [&str; 5] = ["options", "reqmod", "respmod", "clamd", "api"];

/// Upper bounds (seconds) of the scan-time histogram's buckets; a last `+Inf` bucket follows.
pub const SCAN_SECONDS_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

/// The counters and gauges of [`Stats`] at one moment, as values (what the console's live
/// charts sample): the same numbers `/metrics` exposes, without going through its text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Requests by method (every one of [`METHODS`]).
    pub requests: BTreeMap<String, u64>,
    /// Scanned objects by status (every one of [`STATUSES`]).
    pub objects: BTreeMap<String, u64>,
    /// Bytes of scanned objects, all statuses together.
    pub bytes: u64,
    /// ICAP connections accepted.
    pub connections: u64,
    /// ICAP connections open.
    pub connections_open: i64,
    /// Transactions in flight.
    pub in_flight: i64,
    /// When the database in use was loaded (Unix time).
    pub database_loaded: i64,
    /// The scan-time histogram, cumulative: (upper bound in seconds, observations at or below
    /// it), one per [`SCAN_SECONDS_BOUNDS`] then `+Inf` (`f64::INFINITY`) with the total.
    pub scan_seconds: Vec<(f64, u64)>,
}

/// The scan-time histogram's bucket counts (not cumulative), kept beside the Prometheus
/// histogram (whose buckets cannot be read back) for [`Stats::sample`]; an observation goes
/// into the same bucket as there: the first whose bound is at or above it, `+Inf` for NaN.
#[derive(Debug)]
struct ScanBuckets([AtomicU64; SCAN_SECONDS_BOUNDS.len() + 1]);

impl ScanBuckets {
    fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    fn observe(&self, seconds: f64) {
        let i = SCAN_SECONDS_BOUNDS
            .iter()
            .position(|b| *b >= seconds)
            .unwrap_or(SCAN_SECONDS_BOUNDS.len());
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    fn cumulative(&self) -> Vec<(f64, u64)> {
        let bounds = SCAN_SECONDS_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let mut total = 0u64;
        bounds
            .zip(&self.0)
            .map(|(le, n)| {
                total = total.saturating_add(n.load(Ordering::Relaxed));
                (le, total)
            })
            .collect()
    }
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Stats {
    registry: Registry,
    requests: Family<Labels, Counter>,
    objects: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    groups: Family<Labels, Counter>,
    excluded: Family<Labels, Counter>,
    stopped: Family<Labels, Counter>,
    scan_seconds: Histogram,
    scan_buckets: ScanBuckets,
    connections_total: Counter,
    connections_refused: Family<Labels, Counter>,
    connections_open: Gauge,
    in_flight: Gauge,
    engine_errors: Counter,
    reloads: Family<Labels, Counter>,
    database: Family<Labels, Gauge>,
    database_loaded: Gauge,
    body_memory: Gauge,
    body_memory_limit: Gauge,
    started: Instant,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// A registry with every metric registered at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bulwark");
        let requests = Family::<Labels, Counter>::default();
        let objects = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        let groups = Family::<Labels, Counter>::default();
        let excluded = Family::<Labels, Counter>::default();
        let stopped = Family::<Labels, Counter>::default();
        let scan_seconds = Histogram::new(SCAN_SECONDS_BOUNDS);
        let connections_total = Counter::default();
        let connections_refused = Family::<Labels, Counter>::default();
        let connections_open = Gauge::default();
        let in_flight = Gauge::default();
        let engine_errors = Counter::default();
        let reloads = Family::<Labels, Counter>::default();
        let database = Family::<Labels, Gauge>::default();
        let database_loaded = Gauge::default();
        let body_memory = Gauge::default();
        let body_memory_limit = Gauge::default();
        registry.register(
            "body_memory_bytes",
            "Bytes of objects in flight held in memory (bodies, members, objects kept for their \
             scan), counted in the server.body_memory_bytes budget",
            body_memory.clone(),
        );
        registry.register(
            "body_memory_limit_bytes",
            "The server.body_memory_bytes budget (0: no limit); beyond it objects go to temp files",
            body_memory_limit.clone(),
        );
        registry.register(
            "icap_requests",
            "Requests by method: ICAP's options, reqmod, respmod, clamd (one per clamd \
             protocol command), and api (one per scanning API request)",
            requests.clone(),
        );
        registry.register("objects", "Scanned objects by status", objects.clone());
        registry.register(
            "object_bytes",
            "Bytes of scanned objects by status",
            bytes.clone(),
        );
        registry.register("group_objects", "Objects by policy group", groups.clone());
        registry.register(
            "excluded_objects",
            "Objects not scanned, by reason",
            excluded.clone(),
        );
        registry.register(
            "stopped_transfers",
            "Objects stopped by a verdict, by how: block (403 page before any byte), cut (ended \
             short of its Content-Length after part of it went out), reset (no Content-Length: \
             the ICAP connection was reset)",
            stopped.clone(),
        );
        registry.register(
            "scan_seconds",
            "Time from request head to verdict",
            scan_seconds.clone(),
        );
        registry.register(
            "connections",
            "ICAP connections accepted",
            connections_total.clone(),
        );
        registry.register(
            "connections_refused",
            "ICAP connections refused, by reason",
            connections_refused.clone(),
        );
        registry.register(
            "connections_open",
            "ICAP connections open",
            connections_open.clone(),
        );
        registry.register(
            "transactions_in_flight",
            "Transactions being processed",
            in_flight.clone(),
        );
        registry.register(
            "engine_errors",
            "Scans that ended in an engine error",
            engine_errors.clone(),
        );
        registry.register("reloads", "Reloads by kind and result", reloads.clone());
        registry.register(
            "database_info",
            "The loaded signature database (version label)",
            database.clone(),
        );
        registry.register(
            "database_loaded_timestamp_seconds",
            "When the signature database in use was loaded (Unix time)",
            database_loaded.clone(),
        );
        for s in STATUSES {
            let _ = objects.get_or_create(&label("status", s));
            let _ = bytes.get_or_create(&label("status", s));
        }
        for how in ["block", "cut", "reset"] {
            let _ = stopped.get_or_create(&label("how", how));
        }
        for m in METHODS {
            let _ = requests.get_or_create(&label("method", m));
        }
        // Every documented series exists from the start, at zero, so that an alert on its
        // increase sees the first event.
        for r in [
            "method",
            "url",
            "mime_type",
            "too_large",
            "partial_response",
            "no_body",
            "license",
        ] {
            let _ = excluded.get_or_create(&label("reason", r));
        }
        for r in ["access", "limit", "per_client", "tls"] {
            let _ = connections_refused.get_or_create(&label("reason", r));
        }
        for kind in ["config", "database"] {
            for result in ["ok", "failed"] {
                let _ = reloads.get_or_create(&vec![
                    ("kind".to_string(), kind.to_string()),
                    ("result".to_string(), result.to_string()),
                ]);
            }
        }
        Self {
            registry,
            requests,
            objects,
            bytes,
            groups,
            excluded,
            stopped,
            scan_seconds,
            scan_buckets: ScanBuckets::new(),
            connections_total,
            connections_refused,
            connections_open,
            in_flight,
            engine_errors,
            reloads,
            database,
            database_loaded,
            body_memory,
            body_memory_limit,
            started: Instant::now(),
        }
    }

    /// One request of `method`: an ICAP `options`, `reqmod`, `respmod`, a `clamd`
    /// protocol command, or an `api` request.
    pub fn request(&self, method: &str) {
        self.requests.get_or_create(&label("method", method)).inc();
    }

    /// One scanned object: its status label (see [`STATUSES`]), size, group, scan time.
    pub fn object(&self, status: &str, size: u64, group: &str, seconds: f64) {
        self.objects.get_or_create(&label("status", status)).inc();
        self.bytes
            .get_or_create(&label("status", status))
            .inc_by(size);
        self.groups.get_or_create(&label("group", group)).inc();
        self.scan_seconds.observe(seconds);
        self.scan_buckets.observe(seconds);
        if status == "error" {
            self.engine_errors.inc();
        }
    }

    /// Scans that ended in an engine error since start.
    pub fn engine_errors(&self) -> u64 {
        self.engine_errors.get()
    }

    /// One object passed without scanning, and why.
    pub fn excluded(&self, reason: &str) {
        self.excluded.get_or_create(&label("reason", reason)).inc();
    }

    /// One object stopped by a verdict: `block`, `cut` or `reset`.
    pub fn stopped(&self, how: &str) {
        self.stopped.get_or_create(&label("how", how)).inc();
    }

    /// Objects stopped so far in the way `how`.
    pub fn stopped_of(&self, how: &str) -> u64 {
        self.stopped.get_or_create(&label("how", how)).get()
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_total.inc();
        self.connections_open.inc();
    }

    /// An accepted connection ended.
    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// A connection was refused (`access`, `limit`, `tls`).
    pub fn connection_refused(&self, reason: &str) {
        self.connections_refused
            .get_or_create(&label("reason", reason))
            .inc();
    }

    /// A transaction started; the guard counts it as in flight until dropped.
    pub fn transaction(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// A reload of `kind` (`config`, `database`, `tls`) ended with `ok`.
    pub fn reload(&self, kind: &str, ok: bool) {
        self.reloads
            .get_or_create(&vec![
                ("kind".to_string(), kind.to_string()),
                (
                    "result".to_string(),
                    if ok { "ok" } else { "failed" }.to_string(),
                ),
            ])
            .inc();
    }

    /// Records the database now in use.
    pub fn database(&self, version: &str) {
        self.database.clear();
        self.database
            .get_or_create(&label("version", version))
            .set(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.database_loaded.set(now);
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.connections_open.get()
    }

    /// Objects of a status so far.
    pub fn objects_of(&self, status: &str) -> u64 {
        self.objects.get_or_create(&label("status", status)).get()
    }

    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The counters and gauges the console charts, read now (see [`Sample`]).
    pub fn sample(&self) -> Sample {
        let by = |f: &Family<Labels, Counter>, k: &str, values: &[&str]| -> BTreeMap<String, u64> {
            values
                .iter()
                .map(|v| (v.to_string(), f.get_or_create(&label(k, v)).get()))
                .collect()
        };
        let objects = by(&self.objects, "status", &STATUSES);
        let bytes = by(&self.bytes, "status", &STATUSES).values().sum();
        Sample {
            requests: by(&self.requests, "method", &METHODS),
            objects,
            bytes,
            connections: self.connections_total.get(),
            connections_open: self.connections_open.get(),
            in_flight: self.in_flight.get(),
            database_loaded: self.database_loaded.get(),
            scan_seconds: self.scan_buckets.cumulative(),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn prometheus(&self) -> String {
        let b = &bulwark_spool::budget::GLOBAL;
        let clamp = |v: u64| i64::try_from(v).unwrap_or(0);
        self.body_memory.set(clamp(b.used()));
        self.body_memory_limit.set(if b.limit() == u64::MAX {
            0
        } else {
            clamp(b.limit())
        });
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// `counter.stats`: kav4proxy's `name value` lines (plus ours, after theirs).
    pub fn counter_stats(&self) -> String {
        let get =
            |f: &Family<Labels, Counter>, k: &str, v: &str| f.get_or_create(&label(k, v)).get();
        let total: u64 = STATUSES
            .iter()
            .map(|s| get(&self.objects, "status", s))
            .sum();
        let traffic: u64 = STATUSES.iter().map(|s| get(&self.bytes, "status", s)).sum();
        let minutes = (self.started.elapsed().as_secs_f64() / 60.0).max(1.0 / 60.0);
        let infected = get(&self.objects, "status", "infected");
        let mut out = String::new();
        let mut line = |name: &str, value: String| {
            let _ = writeln!(out, "{name} {value}");
        };
        line("total_requests", total.to_string());
        line("infected_requests", infected.to_string());
        line(
            "protected_requests",
            get(&self.objects, "status", "protected").to_string(),
        );
        line(
            "error_requests",
            get(&self.objects, "status", "error").to_string(),
        );
        line("requests_per_min", format!("{:.2}", total as f64 / minutes));
        line("processed_traffic", traffic.to_string());
        line(
            "clean_traffic",
            get(&self.bytes, "status", "clean").to_string(),
        );
        line(
            "infected_traffic",
            get(&self.bytes, "status", "infected").to_string(),
        );
        line(
            "traffic_per_min",
            format!("{:.2}", traffic as f64 / minutes),
        );
        line("engine_errors", self.engine_errors.get().to_string());
        line(
            "total_connections",
            self.connections_total.get().to_string(),
        );
        line("total_processes", "1".into());
        line(
            "idle_processes",
            if self.in_flight.get() == 0 { "1" } else { "0" }.into(),
        );
        for s in STATUSES {
            line(
                &format!("{s}_objects"),
                get(&self.objects, "status", s).to_string(),
            );
        }
        for m in ["options", "reqmod", "respmod", "clamd"] {
            line(
                &format!("{m}_requests"),
                get(&self.requests, "method", m).to_string(),
            );
        }
        line("open_connections", self.connections_open.get().to_string());
        line(
            "uptime_seconds",
            self.started.elapsed().as_secs().to_string(),
        );
        out
    }
}

/// Counts a transaction as in flight while alive.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_feed_both_outputs() {
        let s = Stats::new();
        s.request("respmod");
        s.object("clean", 1000, "default", 0.001);
        s.object("infected", 68, "default", 0.002);
        s.object("infected", 100, "sales", 0.002);
        s.connection_opened();
        let cs = s.counter_stats();
        assert!(cs.contains("total_requests 3\n"), "{cs}");
        assert!(cs.contains("infected_requests 2\n"));
        assert!(cs.contains("processed_traffic 1168\n"));
        assert!(cs.contains("infected_traffic 168\n"));
        assert!(cs.contains("total_connections 1\n"));
        let p = s.prometheus();
        assert!(
            p.contains("bulwark_objects_total{status=\"infected\"} 2"),
            "{p}"
        );
        assert!(p.contains("bulwark_group_objects_total{group=\"sales\"} 1"));
        assert!(p.contains("bulwark_scan_seconds_count 3"));
    }

    /// The value of the series `name{labels}` in the text exposition `text`.
    fn series(text: &str, name_labels: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name_labels)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn the_sample_reads_what_metrics_exposes() {
        let s = Stats::new();
        s.request("respmod");
        s.request("respmod");
        s.request("options");
        s.object("clean", 1000, "default", 0.002);
        s.object("infected", 68, "default", 0.02);
        s.object("clean", 5, "default", 500.0);
        s.object("error", 1, "default", f64::NAN);
        s.connection_opened();
        s.connection_opened();
        s.connection_closed();
        let _t = s.transaction();
        s.database("test-1");
        let now = s.sample();
        let text = s.prometheus();
        for (m, n) in &now.requests {
            let want = series(
                &text,
                &format!("bulwark_icap_requests_total{{method=\"{m}\"}}"),
            );
            assert_eq!(want, Some(*n as f64), "{m}");
        }
        assert_eq!(now.requests.len(), METHODS.len());
        assert_eq!(now.requests.get("respmod"), Some(&2));
        for (st, n) in &now.objects {
            let want = series(&text, &format!("bulwark_objects_total{{status=\"{st}\"}}"));
            assert_eq!(want, Some(*n as f64), "{st}");
        }
        assert_eq!(now.objects.get("clean"), Some(&2));
        assert_eq!(now.bytes, 1074);
        assert_eq!(now.connections, 2);
        assert_eq!(now.connections_open, 1);
        assert_eq!(now.in_flight, 1);
        assert_eq!(
            series(&text, "bulwark_database_loaded_timestamp_seconds"),
            Some(now.database_loaded as f64)
        );
        assert!(now.database_loaded > 0);
        assert_eq!(now.scan_seconds.len(), SCAN_SECONDS_BOUNDS.len() + 1);
        for (le, n) in &now.scan_seconds {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                format!("{le:?}")
            };
            let want = series(
                &text,
                &format!("bulwark_scan_seconds_bucket{{le=\"{le}\"}}"),
            );
            assert_eq!(want, Some(*n as f64), "le={le}: {text}");
        }
        assert_eq!(now.scan_seconds.last(), Some(&(f64::INFINITY, 4)));
    }
}
