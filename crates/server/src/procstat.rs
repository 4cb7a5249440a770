//! The `process_*` series every Prometheus client library exports, read from `/proc/self`
//! (Linux): CPU seconds, resident and virtual memory, open and allowed file descriptors, start
//! time. Missing files (another OS, a locked-down /proc) leave the series out.

use std::fmt::Write;

/// Clock ticks per second for `/proc/self/stat` times (Linux's USER_HZ is 100 on every
/// architecture Debian builds for).
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size for `statm` (4 KiB on amd64 and arm64 Debian kernels' default).
const PAGE_SIZE: u64 = 4096;

/// The series in OpenMetrics text (no `# EOF`).
pub(crate) fn render() -> String {
    let mut out = String::new();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<u64>().ok());
    // After ')': state is field 0, utime 11, stime 12, starttime 19, vsize 20, rss 21.
    if let (Some(u), Some(s)) = (field(11), field(12)) {
        metric(
            &mut out,
            "process_cpu_seconds",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (u + s) as f64 / TICKS_PER_SECOND,
        );
    }
    if let Some(v) = field(20) {
        metric(
            &mut out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            v as f64,
        );
    }
    if let Some(r) = field(21) {
        metric(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            (r * PAGE_SIZE) as f64,
        );
    }
    if let (Some(start), Some(boot)) = (field(19), boot_time()) {
        metric(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + start as f64 / TICKS_PER_SECOND,
        );
    }
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        metric(
            &mut out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            rd.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        metric(
            &mut out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    out
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, v: f64) {
    let sample = if kind == "counter" {
        format!("{name}_total")
    } else {
        name.to_string()
    };
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample} {v}\n"
    );
}

fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_fds() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_series_are_read_from_proc() {
        let out = super::render();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(out.contains(name), "{name} missing in:\n{out}");
        }
    }
}
