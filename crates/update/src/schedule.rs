//! Scheduled updates inside `bulwark serve`.

use std::time::Duration;

use tokio::sync::watch;

use crate::report::Report;
use crate::run::{run, UpdateRequest};

/// The wait before the next run: `interval` plus up to `jitter` seconds at random.
pub fn next_wait(interval_secs: u64, jitter_secs: u64) -> Duration {
    let mut b = [0u8; 8];
    let r = getrandom::getrandom(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    let jitter = if jitter_secs == 0 {
        0
    } else {
        r % (jitter_secs + 1)
    };
    Duration::from_secs(interval_secs.saturating_add(jitter))
}

/// Runs `req` every `interval_secs` (plus jitter; the first run after the jitter alone) until
/// `shutdown` turns `true` or its sender is dropped. Each run happens on a blocking thread,
/// is logged and appended to the report file; `on_report` sees every report (e.g. for
/// notifications or metrics). Returns at once when the schedule is off (no source, or
/// `interval_secs = 0`).
pub async fn run_schedule<F>(req: UpdateRequest, mut shutdown: watch::Receiver<bool>, on_report: F)
where
    F: Fn(&Report) + Send + Sync + 'static,
{
    let cfg = &req.config;
    if cfg.sources.is_empty() || cfg.interval_secs == 0 {
        tracing::debug!("scheduled updates off (no source or interval 0)");
        return;
    }
    let mut wait = next_wait(0, cfg.jitter_secs);
    tracing::info!(
        interval_secs = cfg.interval_secs,
        jitter_secs = cfg.jitter_secs,
        "scheduled database updates on"
    );
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let r = req.clone();
        match tokio::task::spawn_blocking(move || run(&r)).await {
            Ok(report) => on_report(&report),
            Err(e) => tracing::error!(error = %e, "the scheduled update panicked"),
        }
        wait = next_wait(req.config.interval_secs, req.config.jitter_secs);
    }
}
