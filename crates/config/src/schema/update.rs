//! `[update]`: database update sources, trusted signing keys, proxy, install directory,
//! schedule and PostUpdateCmd (run by the `bulwark-update` crate).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where `bulwark update` installs by default (the server's `[engine] database` should name it).
pub const DEFAULT_DATABASE_DIR: &str = "/var/lib/bulwark/db";

/// `[update]`: database update sources, verification keys, installation and schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    /// Update sources, tried in order until one works: `http://…` or `https://…` mirrors, or a
    /// local directory (a path or `file://…`), all with the layout `bulwark db build` writes.
    /// Prefix `clamav:` for a ClamAV-layout mirror (`main.cvd`, `daily.cvd`, `bytecode.cvd`).
    /// A file missing from a Bulwark-layout source or differing from its signed index makes
    /// the update read the index once more (the mirror may have published a new version
    /// meanwhile) and start again if it changed; otherwise the source is refused.
    pub sources: Vec<String>,
    /// The installed database: a symbolic link to the current version directory beside it
    /// (`<database_dir>.ver-v<VERSION>`), switched atomically. Point `[engine] database` at it.
    pub database_dir: PathBuf,
    /// Where the previous database is kept after an install, for rollback; unset:
    /// `<database_dir>.backup`.
    pub backup_dir: Option<PathBuf>,
    /// Public key files (`bulwark db keygen`) whose signatures on an update index are trusted.
    pub trusted_keys: Vec<PathBuf>,
    /// HTTP proxy for the mirrors, `http://[user:password@]host:port`; unset: direct.
    pub proxy: Option<String>,
    /// Timeout of each download (connect and transfer), in seconds.
    pub timeout_secs: u64,
    /// Further attempts per download after a network failure or a 5xx answer.
    pub retries: u32,
    /// Seconds between scheduled updates inside `bulwark serve`; 0 turns the schedule off (it
    /// runs only when `sources` is not empty).
    pub interval_secs: u64,
    /// Up to this many seconds are added at random to each scheduled wait.
    pub jitter_secs: u64,
    /// Command run after a successful install and reload (kav4proxy's PostUpdateCmd). It is
    /// split into arguments at spaces (single and double quotes group) and run without a shell.
    pub post_update_cmd: Option<String>,
    /// File to which a line per update run is appended; unset: the log only.
    pub report_file: Option<PathBuf>,
    /// Control socket of the running server, sent `reload-db` after an install; unset: the
    /// `[control] socket` of the same configuration.
    pub control_socket: Option<PathBuf>,
    /// Largest file accepted from a source, in bytes.
    pub max_file_bytes: u64,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            sources: Vec::new(),
            database_dir: PathBuf::from(DEFAULT_DATABASE_DIR),
            backup_dir: None,
            trusted_keys: Vec::new(),
            proxy: None,
            timeout_secs: 60,
            retries: 2,
            interval_secs: 3600,
            jitter_secs: 300,
            post_update_cmd: None,
            report_file: None,
            control_socket: None,
            max_file_bytes: 1 << 30,
        }
    }
}

impl UpdateConfig {
    /// The backup directory: `backup_dir`, or `<database_dir>.backup`.
    pub fn backup_path(&self) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| {
            let mut s = self.database_dir.as_os_str().to_owned();
            s.push(".backup");
            PathBuf::from(s)
        })
    }
}
