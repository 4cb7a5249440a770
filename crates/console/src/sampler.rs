//! Samples of the server's counters (the same values `/metrics` exposes, read through
//! [`Backend::counters`](crate::Backend::counters)), taken every few seconds and kept for an
//! hour in a ring buffer, for the live charts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::api::Shared;
use crate::backend::Counters;

/// How long samples are kept.
const KEEP_SECS: u64 = 3600;

/// The counters at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// Unix time, seconds.
    pub t: u64,
    /// What the backend counted.
    pub counters: Counters,
}

/// The `q` quantile (0..1) of a cumulative histogram, interpolated linearly inside its bucket;
/// `None` with no observations. Observations above the last finite bound count as that bound.
pub fn percentile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut prev_le = 0.0;
    let mut prev_n = 0u64;
    for &(le, n) in buckets {
        if n as f64 >= rank && n > prev_n {
            if le.is_infinite() {
                return Some(prev_le);
            }
            let frac = (rank - prev_n as f64) / (n - prev_n) as f64;
            return Some(prev_le + (le - prev_le) * frac.clamp(0.0, 1.0));
        }
        if le.is_finite() {
            prev_le = le;
        }
        prev_n = n;
    }
    Some(prev_le)
}

/// The difference of two cumulative histograms (later minus earlier).
fn bucket_delta(later: &[(f64, u64)], earlier: &[(f64, u64)]) -> Vec<(f64, u64)> {
    later
        .iter()
        .map(|&(le, n)| {
            let before = earlier
                .iter()
                .find(|(l, _)| *l == le)
                .map(|(_, m)| *m)
                .unwrap_or(0);
            (le, n.saturating_sub(before))
        })
        .collect()
}

/// One point of the charts: what happened between two samples.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    /// End of the interval (Unix time).
    pub t: u64,
    /// Seconds the interval lasted.
    pub secs: u64,
    /// ICAP requests in the interval.
    pub requests: u64,
    /// Objects in the interval by status (only statuses that occurred).
    pub objects: BTreeMap<String, u64>,
    /// Bytes scanned in the interval.
    pub bytes: u64,
    /// Median scan time in the interval, milliseconds.
    pub p50_ms: Option<f64>,
    /// 95th percentile, milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
}

fn ms(v: Option<f64>) -> Option<f64> {
    v.map(|s| (s * 1000.0 * 1000.0).round() / 1000.0)
}

/// The chart point of the interval from `a` to `b`.
fn point(a: &Sample, b: &Sample) -> Point {
    let (t, secs) = (b.t, b.t.saturating_sub(a.t));
    let (a, b) = (&a.counters, &b.counters);
    let d = bucket_delta(&b.scan_seconds, &a.scan_seconds);
    Point {
        t,
        secs,
        requests: b.requests_total().saturating_sub(a.requests_total()),
        objects: b
            .objects
            .iter()
            .filter_map(|(k, v)| {
                let n = v.saturating_sub(a.objects.get(k).copied().unwrap_or(0));
                (n > 0).then(|| (k.clone(), n))
            })
            .collect(),
        bytes: b.bytes.saturating_sub(a.bytes),
        p50_ms: ms(percentile(&d, 0.5)),
        p95_ms: ms(percentile(&d, 0.95)),
        p99_ms: ms(percentile(&d, 0.99)),
    }
}

/// Scan-time percentiles over a period, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentiles {
    /// Objects scanned in the period.
    pub count: u64,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// The ring buffer.
#[derive(Debug)]
pub(crate) struct Ring {
    samples: VecDeque<Sample>,
    cap: usize,
}

impl Ring {
    /// Room for an hour at `interval` seconds.
    pub fn new(interval: u64) -> Self {
        let cap = (KEEP_SECS / interval.max(1)) as usize + 1;
        Self {
            samples: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == self.cap {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// Chart points between consecutive samples, then from the last sample to `now`.
    pub fn series(&self) -> Vec<Point> {
        let v: Vec<&Sample> = self.samples.iter().collect();
        v.windows(2).map(|w| point(w[0], w[1])).collect()
    }

    /// Percentiles from the oldest sample kept (at most an hour ago) to `now`.
    pub fn hour(&self, now: &Sample) -> Percentiles {
        let empty = Vec::new();
        let base = self
            .samples
            .front()
            .map(|s| &s.counters.scan_seconds)
            .unwrap_or(&empty);
        let d = bucket_delta(&now.counters.scan_seconds, base);
        Percentiles {
            count: d.last().map(|x| x.1).unwrap_or(0),
            p50_ms: ms(percentile(&d, 0.5)),
            p95_ms: ms(percentile(&d, 0.95)),
            p99_ms: ms(percentile(&d, 0.99)),
        }
    }
}

/// Unix time now, seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Takes a sample every `console.sample_interval_secs` until `stop`.
pub(crate) async fn run(state: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let interval = state.console().sample_interval_secs.max(1);
    let mut tick = tokio::time::interval(Duration::from_secs(interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let s = state.sample_now();
        if let Ok(mut r) = state.ring.lock() {
            r.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let b = [(0.001, 0), (0.01, 10), (0.1, 10), (f64::INFINITY, 10)];
        let p = percentile(&b, 0.5).expect("some");
        assert!((p - 0.0055).abs() < 1e-9, "{p}");
        assert_eq!(percentile(&[(1.0, 0), (f64::INFINITY, 0)], 0.5), None);
        let over = [(1.0, 0), (f64::INFINITY, 4)];
        assert_eq!(percentile(&over, 0.99), Some(1.0));
    }

    #[test]
    fn ring_keeps_an_hour_and_makes_points() {
        let mut r = Ring::new(1800);
        assert_eq!(r.cap, 3);
        for t in 0..5u64 {
            let mut s = Sample {
                t,
                ..Default::default()
            };
            s.counters.requests.insert("respmod".into(), t * 2);
            s.counters.scan_seconds = vec![(0.01, t), (f64::INFINITY, t)];
            r.push(s);
        }
        let pts = r.series();
        assert_eq!(pts.len(), 2);
        assert!(pts.iter().all(|p| p.requests == 2));
        let now = Sample {
            t: 9,
            counters: Counters {
                scan_seconds: vec![(0.01, 10), (f64::INFINITY, 10)],
                ..Default::default()
            },
        };
        assert_eq!(r.hour(&now).count, 8);
    }
}
