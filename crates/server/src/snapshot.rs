//! The configuration and database every transaction works on, swapped whole on reload.

use std::sync::Arc;

use bulwark_config::Config;
use bulwark_engine::Database;
use bulwark_policy::Policy;

/// One consistent view: configuration, database and the ISTag that names them.
#[derive(Debug)]
pub struct Snapshot {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The compiled signature database.
    pub database: Arc<Database>,
    /// The compiled policy (groups, filters, actions, block pages).
    pub policy: Policy,
    /// The ISTag value, quoted, at most 32 characters inside the quotes.
    pub istag: String,
    /// Deep-scan verdicts of this snapshot (`engine.verdict_cache_entries`; a reload starts
    /// an empty one).
    pub verdicts: Arc<bulwark_engine::VerdictCache>,
    /// The newest modification time among the database's signature files (`None` for the
    /// built-in signature): how old the signatures in use are.
    pub database_modified: Option<std::time::SystemTime>,
    /// When this snapshot (and so its database) was built: at start and at each reload.
    pub loaded_at: std::time::SystemTime,
    /// `[access] allow`, compiled: checked for every accepted connection.
    pub access: crate::access::AccessList,
}

impl Snapshot {
    /// Builds a snapshot and derives its ISTag from the product version, the database version
    /// and the parts of the configuration that decide answers (policy, engine options and
    /// limits, answer modes, how clients are identified), so the tag changes exactly when one of
    /// them does, and instances of a fleet that differ only in listen addresses, ports, log
    /// paths or database locations answer with the same ISTag (Squid caches by it).
    pub fn new(config: Arc<Config>, database: Arc<Database>) -> Result<Self, crate::ReloadError> {
        let policy = Policy::compile(&config.policy).map_err(crate::ReloadError::Policy)?;
        let access = crate::access::AccessList::compile(&config)?;
        let cfg_text = verdict_relevant(&config);
        let mut h = Fnv::default();
        h.write(env!("CARGO_PKG_VERSION").as_bytes());
        h.write(database.version().as_bytes());
        h.write(cfg_text.as_bytes());
        let istag = format!("\"BW-{:016x}\"", h.0);
        let verdicts = Arc::new(bulwark_engine::VerdictCache::new(
            config.engine.verdict_cache_entries,
        ));
        let database_modified = if database.is_builtin() {
            None
        } else {
            newest_modification(&bulwark_engine::database_paths(&config.engine.database))
        };
        Ok(Self {
            config,
            database,
            policy,
            istag,
            verdicts,
            database_modified,
            loaded_at: std::time::SystemTime::now(),
            access,
        })
    }

    /// What building a snapshot from `config` would find beyond its plain data: the policy's
    /// compile errors and cache-safety warnings. The loader places them on their lines
    /// (`bulwark_config::load_file_with(path, strictness, &Snapshot::check)`), so `bulwark
    /// config check`, start and reload refuse the same files.
    pub fn check(config: &Config) -> bulwark_config::Findings {
        bulwark_policy::check_config(&config.policy)
    }
}

/// The newest modification time of the signature files under `paths` (files, or directories
/// whose signature files are looked at, not recursed).
fn newest_modification(paths: &[std::path::PathBuf]) -> Option<std::time::SystemTime> {
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    paths
        .iter()
        .flat_map(|p| {
            if p.is_dir() {
                std::fs::read_dir(p)
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|f| bulwark_engine::is_signature_file(f))
                            .filter_map(|f| mtime(&f))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            } else {
                mtime(p).into_iter().collect()
            }
        })
        .max()
}

impl Snapshot {
    /// Seconds since the signatures in use were last modified (`None` for the built-in one).
    pub fn database_age_secs(&self) -> Option<u64> {
        let m = self.database_modified?;
        Some(
            std::time::SystemTime::now()
                .duration_since(m)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }
}

/// The configuration that decides answers, as stable text (TOML).
fn verdict_relevant(config: &Config) -> String {
    let mut engine = config.engine.clone();
    // Where the signatures are read from is not what they are: the database version covers
    // their content. The verdict cache's size changes no verdict.
    engine.database.clear();
    engine.verdict_cache_entries = 0;
    let mut t = toml::Table::new();
    let mut put = |key: &str, v: Result<toml::Value, toml::ser::Error>| {
        if let Ok(v) = v {
            t.insert(key.to_string(), v);
        }
    };
    put("answer", toml::Value::try_from(&config.answer));
    put("engine", toml::Value::try_from(&engine));
    put("identity", toml::Value::try_from(&config.identity));
    put("policy", toml::Value::try_from(&config.policy));
    toml::to_string(&t).unwrap_or_default()
}

/// FNV-1a, 64 bits: a stable (across runs and builds) fingerprint for the ISTag and the
/// blocked-object cache's option fingerprint.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istag_is_quoted_short_and_follows_the_config() {
        let db = Arc::new(Database::builtin());
        let a = Snapshot::new(Arc::new(Config::default()), db.clone()).expect("snapshot");
        let b = Snapshot::new(Arc::new(Config::default()), db.clone()).expect("snapshot");
        assert_eq!(a.istag, b.istag);
        assert!(a.istag.starts_with('"') && a.istag.ends_with('"'));
        assert!(a.istag.len() - 2 <= 32);
        let mut c = Config::default();
        c.answer.holdback_bytes = 8192;
        let c = Snapshot::new(Arc::new(c), db.clone()).expect("snapshot");
        assert_ne!(a.istag, c.istag);
    }

    #[test]
    fn instances_differing_only_in_where_they_listen_and_log_share_the_istag() {
        let db = Arc::new(Database::builtin());
        let a = Snapshot::new(Arc::new(Config::default()), db.clone()).expect("snapshot");
        let mut other = Config::default();
        other.server.listen = vec!["127.0.0.2:2344".parse().expect("addr")];
        other.metrics.listen = vec!["127.0.0.1:9100".parse().expect("addr")];
        other.log.av_stats_file = Some("/var/log/other/av.stats".into());
        other.control.pid_file = Some("/run/other.pid".into());
        other.engine.database = vec!["/srv/mirror/clamav".into()];
        other.engine.verdict_cache_entries = 7;
        let b = Snapshot::new(Arc::new(other), db.clone()).expect("snapshot");
        assert_eq!(a.istag, b.istag);
        // What decides answers changes it.
        let mut policy = Config::default();
        policy.policy.default_group.engine.scan_archives = false;
        let p = Snapshot::new(Arc::new(policy), db).expect("snapshot");
        assert_ne!(a.istag, p.istag);
    }
}
