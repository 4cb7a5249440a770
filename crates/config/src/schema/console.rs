//! `[console]`: the administration web console and its JSON API (served by the
//! `bulwark-console` crate).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[console]`: the administration web console and JSON API. Off unless `listen` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleConfig {
    /// Addresses for the console (HTTP, or HTTPS with `tls_cert` and `tls_key`); empty
    /// (default) turns it off. Keep it on loopback (`127.0.0.1:9344`) or an admin network.
    pub listen: Vec<SocketAddr>,
    /// The administrator password as an Argon2 PHC string (`$argon2id$v=19$...`), made with
    /// `bulwark console hash-password`. Unset: password log-in is off.
    pub password_hash: Option<String>,
    /// A bearer token for scripts (`Authorization: Bearer TOKEN`, or as the log-in password).
    /// Unset: no token. Prefer `token_file` so the secret stays out of this file.
    pub token: Option<String>,
    /// A file holding the bearer token (first line, surrounding whitespace ignored), read when
    /// the console starts and on every reload. Used when `token` is unset.
    pub token_file: Option<PathBuf>,
    /// Certificate chain (PEM) for HTTPS. With `tls_key`, the console speaks only HTTPS and its
    /// session cookie is marked `Secure`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for HTTPS.
    pub tls_key: Option<PathBuf>,
    /// Seconds a console session lasts after log-in.
    pub session_ttl_secs: u64,
    /// Log-in attempts allowed per client address in any 60 seconds; more get `429`.
    pub max_login_attempts_per_minute: u32,
    /// Seconds between two samples of the counters for the live charts (one hour is kept).
    pub sample_interval_secs: u64,
    /// Detections (non-clean lines of `log.av_stats_file`) the console shows at most.
    pub detections: usize,
    /// Let the console's editor change the keys that run commands or name files the service
    /// writes (`update.post_update_cmd`, `notify.script`, the `[log]` files, the `[control]`
    /// paths, `console.token_file`, and this key). Off: such an edit is refused, so a console
    /// password is not a shell on the server. Only this file can turn it on.
    pub allow_command_edits: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            password_hash: None,
            token: None,
            token_file: None,
            tls_cert: None,
            tls_key: None,
            session_ttl_secs: 8 * 3600,
            max_login_attempts_per_minute: 10,
            sample_interval_secs: 5,
            detections: 100,
            allow_command_edits: false,
        }
    }
}

impl ConsoleConfig {
    /// True when the console is to be served.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    /// True when the console speaks HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let c = ConsoleConfig::default();
        assert!(!c.enabled());
        assert!(!c.tls());
        assert!(c.max_login_attempts_per_minute > 0);
    }
}
