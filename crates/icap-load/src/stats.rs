//! Per-worker counters and the merged summary.

use std::time::Duration;

use anyhow::Context;

/// Errors whose text is kept for the report.
const MAX_ERROR_SAMPLES: usize = 5;

/// What one worker measured.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Completed requests' latencies, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Bytes of object payload sent plus received (body bytes).
    pub bytes: u64,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Failed requests.
    pub errors: u64,
    /// Responses by status code.
    pub statuses: Vec<(u16, u64)>,
    /// First few error messages.
    pub error_samples: Vec<String>,
}

impl WorkerStats {
    /// Records an error message (only the first few are kept).
    pub fn note_error(&mut self, msg: String) {
        if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.push(msg);
        }
    }

    /// Counts a response status.
    pub fn count_status(&mut self, status: u16) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
    }
}

/// The merged result of a run.
#[derive(Debug)]
pub struct Summary {
    latencies_us: Vec<u32>,
    bytes: u64,
    body_bytes: u64,
    errors: u64,
    statuses: Vec<(u16, u64)>,
    error_samples: Vec<String>,
    elapsed: Duration,
}

impl Summary {
    /// Merges the workers' statistics.
    pub fn merge(all: Vec<WorkerStats>, elapsed: Duration) -> Self {
        let mut s = Summary {
            latencies_us: Vec::new(),
            bytes: 0,
            body_bytes: 0,
            errors: 0,
            statuses: Vec::new(),
            error_samples: Vec::new(),
            elapsed,
        };
        for w in all {
            s.latencies_us.extend_from_slice(&w.latencies_us);
            s.bytes += w.bytes;
            s.body_bytes += w.body_bytes;
            s.errors += w.errors;
            for (code, n) in w.statuses {
                match s.statuses.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, m)) => *m += n,
                    None => s.statuses.push((code, n)),
                }
            }
            for e in w.error_samples {
                if s.error_samples.len() < MAX_ERROR_SAMPLES {
                    s.error_samples.push(e);
                }
            }
        }
        s.latencies_us.sort_unstable();
        s.statuses.sort_unstable();
        s
    }

    /// Mean body size received per request (for the HTTP mode's report).
    pub fn mean_body(&self) -> usize {
        let n = self.latencies_us.len() as u64;
        self.body_bytes.checked_div(n).unwrap_or(0) as usize
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[idx.min(self.latencies_us.len() - 1)]) / 1000.0
    }

    /// Prints a human summary and the `RESULT` line of a run with `concurrency` connections,
    /// labelled `label` (`-` when empty).
    pub fn print(
        &self,
        mode: &str,
        target: &str,
        (concurrency, label): (usize, &str),
        size: usize,
        extra: &str,
    ) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let n = self.latencies_us.len();
        let rps = n as f64 / secs;
        // MB/s counts object bytes moved per completed request (size), 10^6 bytes.
        let mbs = (n as f64 * size as f64) / secs / 1e6;
        let (p50, p99, max) = (
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0),
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        println!(
            "{mode} {target} c={} {:.1}s: {n} ok, {} errors, {rps:.0} req/s, {mbs:.1} MB/s, p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; statuses {}",
            concurrency,
            secs,
            self.errors,
            statuses.join(",")
        );
        for e in &self.error_samples {
            println!("  error: {e}");
        }
        println!(
            "RESULT mode={mode} label={} target={target} concurrency={} seconds={secs:.2} requests={n} errors={} req_s={rps:.1} mb_s={mbs:.2} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3} statuses={} {extra}",
            if label.is_empty() { "-" } else { label },
            concurrency,
            self.errors,
            if statuses.is_empty() { "-".to_string() } else { statuses.join(",") },
        );
    }
}

/// Resident set size of `pid` in KiB, from `/proc/<pid>/status` (`VmRSS`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}
