//! systemd's readiness protocol (`Type=notify`): `READY=1` once the database is loaded and
//! every listener is up, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` on the way out,
//! and `WATCHDOG=1` pings while the runtime is alive when the unit sets `WatchdogSec=`.
//! Without `NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("systemd notification not sent: {e}");
    }
}

/// The server is ready: its listeners accept and the database is loaded.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts (systemd shows the unit as reloading until [`reloaded`]).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A reload ended (applied or refused); `status` says which.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The server is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Pings systemd's watchdog at half its interval until `stop` turns true, when the unit sets
/// `WatchdogSec=` (a wedged runtime stops the pings and systemd restarts the service).
pub async fn watchdog(mut stop: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(100));
    loop {
        send(&[NotifyState::Watchdog]);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}
