//! Per-worker counters and the merged summary.

use std::time::Duration;

use anyhow::{bail, Context};

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
    /// CPU seconds the measured server processes used during the run (`--pid`).
    pub server_cpu: Option<f64>,
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
            server_cpu: None,
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
        // Server CPU per completed request, in microseconds (10 ms resolution over the run).
        let cpu = match self.server_cpu {
            Some(c) if n > 0 => {
                let per = c * 1e6 / n as f64;
                println!("  server CPU {c:.2} s over the run: {per:.0} µs per request");
                format!(" server_cpu_us={per:.0}")
            }
            _ => String::new(),
        };
        println!(
            "RESULT mode={mode} label={} target={target} concurrency={} seconds={secs:.2} requests={n} errors={} req_s={rps:.1} mb_s={mbs:.2} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3} statuses={} {extra}{cpu}",
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

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 on every architecture
/// it exports to user space).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system) used so far by each of `pids` and all their descendants (c-icap and
/// Squid do their work in child processes), from `/proc/*/stat`; processes that ended are not
/// counted.
pub fn cpu_seconds(pids: &[u32]) -> anyhow::Result<f64> {
    // (pid, parent, ticks) of every process.
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end while we read: skip it.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, ticks)) = parse_stat(&stat) {
            procs.push((pid, ppid, ticks));
        }
    }
    let mut wanted: Vec<u32> = pids.to_vec();
    for p in pids {
        if !procs.iter().any(|&(q, ..)| q == *p) {
            bail!("no process {p}");
        }
    }
    // Descendants, breadth first (bounded by the number of processes).
    let mut i = 0;
    while i < wanted.len() && wanted.len() <= procs.len() {
        let parent = wanted[i];
        for &(q, pp, _) in &procs {
            if pp == parent && !wanted.contains(&q) {
                wanted.push(q);
            }
        }
        i += 1;
    }
    let ticks: u64 = procs
        .iter()
        .filter(|(q, ..)| wanted.contains(q))
        .map(|&(.., t)| t)
        .sum();
    Ok(ticks as f64 / USER_HZ)
}

/// The parent pid and utime + stime of one `/proc/<pid>/stat` line (fields 4, 14 and 15; the
/// command name before them is in parentheses and may hold spaces).
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_in_the_name() {
        let line =
            "1234 (c-icap (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 99 0 0";
        assert_eq!(parse_stat(line), Some((1, 300)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_and_its_children_use_cpu() {
        let me = std::process::id();
        // Burn a little CPU, then read it back (at least one tick of 10 ms).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(&[me]).unwrap() > 0.0);
        assert!(cpu_seconds(&[u32::MAX]).is_err());
    }
}
