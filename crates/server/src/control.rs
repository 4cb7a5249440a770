//! Reload, statistics and stop: the operations behind signals (SIGHUP, SIGUSR1, SIGUSR2,
//! SIGTERM) and the `bulwark ctl` control socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_config::{Config, EngineConfig};
use bulwark_engine::Database;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{watch, Mutex};
use tracing::{error, info, warn};

use crate::context::Context;
use crate::listener::TlsHandle;
use crate::logfile::LogFile;
use crate::snapshot::Snapshot;
use crate::ReloadError;

/// Loads the signature database the configuration names (the built-in EICAR signature when it
/// names none). What could not be loaded is logged per file and reason, never skipped in silence.
pub fn load_database(cfg: &EngineConfig) -> Result<Database, ReloadError> {
    let paths = bulwark_engine::database_paths(&cfg.database);
    if paths.is_empty() {
        warn!(
            "no signature database: [engine] database is empty and {} holds no ClamAV file; \
             scanning for the EICAR test signature ONLY (set [engine] database, or install \
             clamav-freshclam)",
            bulwark_engine::SYSTEM_DATABASE_DIR
        );
        return Ok(Database::builtin());
    }
    // The compiled database is cached on disk (validated against the sources), so a restart
    // or a reload after an update loads in a fraction of a second.
    let opts = bulwark_engine::LoadOptions {
        cache_dir: bulwark_engine::default_cache_dir(),
        ..bulwark_engine::LoadOptions::default()
    };
    let loaded = Database::load(&paths, &opts);
    // The compile's temporaries are gone (or the load failed): give their memory back.
    crate::memtrim::release_freed_memory();
    let (db, report) = loaded?;
    for f in &report.files {
        let unsupported: u64 = f.unsupported.values().sum();
        let malformed: u64 = f.malformed.values().sum();
        if unsupported + malformed > 0 {
            warn!(
                file = %f.path,
                loaded = f.loaded,
                unsupported,
                malformed,
                "some signatures were not loaded (reasons: `bulwark db info`)"
            );
        }
    }
    let cache = report
        .cache
        .as_ref()
        .map_or("off".to_string(), ToString::to_string);
    if report.cache.as_ref().is_some_and(|c| c.is_failure()) {
        warn!(%cache, "the compiled signature cache could not be written: the next start compiles again");
    }
    info!(
        version = db.version(),
        files = report.files.len(),
        signatures = report.files.iter().map(|f| f.loaded).sum::<u64>(),
        ms = report.total_time.as_millis() as u64,
        %cache,
        matchers_compiled = report.matchers_compiled,
        matchers_reused = report.matchers_reused,
        "signature database loaded"
    );
    Ok(db)
}

/// What the command line set that a reload must keep.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` addresses.
    pub listen: Vec<SocketAddr>,
    /// `--database` paths.
    pub database: Vec<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to a freshly loaded configuration.
    pub fn apply(&self, cfg: &mut Config) {
        if !self.listen.is_empty() {
            cfg.server.listen = self.listen.clone();
        }
        if !self.database.is_empty() {
            cfg.engine.database = self.database.clone();
        }
    }
}

/// Carries out control operations on a running server.
#[derive(Debug)]
pub struct Controller {
    ctx: Arc<Context>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    tls: Option<TlsHandle>,
    report_log: Option<LogFile>,
    stop: watch::Sender<bool>,
    // One reload at a time: a second waits instead of building a third copy in memory.
    busy: Mutex<()>,
}

impl Controller {
    /// A controller for `ctx`; `config_path` is re-read on reload.
    pub fn new(
        ctx: Arc<Context>,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        tls: Option<TlsHandle>,
        report_log: Option<LogFile>,
        stop: watch::Sender<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            config_path,
            overrides,
            tls,
            report_log,
            stop,
            busy: Mutex::new(()),
        })
    }

    /// SIGHUP / `ctl reload`: re-reads the configuration, reloads the databases and the TLS
    /// certificates. A broken configuration or database is refused; the old one keeps serving.
    pub async fn reload(&self) -> Result<String, ReloadError> {
        let _g = self.busy.lock().await;
        crate::sdnotify::reloading();
        let result = self.reload_inner().await;
        self.ctx.stats.reload("config", result.is_ok());
        self.after_reload(&result, "reload");
        result
    }

    async fn reload_inner(&self) -> Result<String, ReloadError> {
        let mut config = match &self.config_path {
            Some(p) => {
                let loaded = bulwark_config::load_file_with(
                    p,
                    bulwark_config::Strictness::Strict,
                    &crate::Snapshot::check,
                )?;
                for w in &loaded.warnings {
                    warn!("configuration: {w}");
                }
                loaded.config
            }
            None => Config::default(),
        };
        self.overrides.apply(&mut config);
        let old = self.ctx.snapshot.load_full();
        let mut notes = Vec::new();
        if config.server.listen != old.config.server.listen
            || config.tls.listen != old.config.tls.listen
        {
            notes.push("listen addresses changed: they apply after a restart");
        }
        if config.server.max_connections != old.config.server.max_connections {
            notes.push("max_connections changed: it applies after a restart");
        }
        if config.metrics.listen != old.config.metrics.listen {
            notes.push("metrics.listen changed: the metrics listener moves after a restart");
        }
        if config.console.listen != old.config.console.listen {
            notes.push("console.listen changed: the console listener moves after a restart");
        }
        if config.cluster != old.config.cluster {
            notes.push("[cluster] changed: it applies after a restart");
        }
        let engine_cfg = config.engine.clone();
        let database = tokio::task::spawn_blocking(move || load_database(&engine_cfg)).await??;
        if let (Some(tls), false) = (&self.tls, config.tls.listen.is_empty()) {
            tls.reload(&config.tls)?;
        }
        let av_changed = config.log.av_stats_file != old.config.log.av_stats_file;
        if av_changed {
            let log = LogFile::open(config.log.av_stats_file.as_deref(), true)
                .map_err(ReloadError::AvStatsLog)?;
            self.ctx.av_log.store(Arc::new(log));
        }
        if config.log.syslog != old.config.log.syslog {
            // The old sender delivers what it queued in the background.
            self.ctx
                .central
                .reconfigure(&config.log.syslog, SYSLOG_FLUSH);
        }
        if config.notify != old.config.notify {
            let new = bulwark_notify::Notifier::spawn(config.notify.clone());
            let old_notifier = self.ctx.notifier.swap(Arc::new(new));
            tokio::spawn(async move { old_notifier.shutdown().await });
        }
        let snap = Snapshot::new(Arc::new(config), Arc::new(database))?;
        let msg = format!(
            "configuration and database reloaded (database {}, ISTag {}){}{}",
            snap.database.version(),
            snap.istag,
            if notes.is_empty() { "" } else { "; " },
            notes.join("; ")
        );
        self.ctx.install(snap);
        Ok(msg)
    }

    /// SIGUSR1 / `ctl reload-db`: reloads the databases only.
    pub async fn reload_db(&self) -> Result<String, ReloadError> {
        let _g = self.busy.lock().await;
        crate::sdnotify::reloading();
        // Only the configuration is kept, not the old snapshot: once the new one is installed,
        // the old database is freed as soon as its last scan ends (and trimmed below).
        let config = Arc::clone(&self.ctx.snapshot.load().config);
        let engine_cfg = config.engine.clone();
        let result = match tokio::task::spawn_blocking(move || load_database(&engine_cfg)).await {
            Ok(Ok(db)) => match Snapshot::new(config, Arc::new(db)) {
                Ok(snap) => {
                    let msg = format!(
                        "database reloaded (database {}, ISTag {})",
                        snap.database.version(),
                        snap.istag
                    );
                    self.ctx.install(snap);
                    Ok(msg)
                }
                Err(e) => Err(e),
            },
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ReloadError::Loader(e)),
        };
        self.ctx.stats.reload("database", result.is_ok());
        self.after_reload(&result, "reload-db");
        result
    }

    /// Logs a reload's outcome, re-reads the licence keys, notifies a refusal.
    fn after_reload(&self, result: &Result<String, ReloadError>, what: &str) {
        // The previous database is freed once its last scan ends; what is free now goes back.
        crate::memtrim::release_freed_memory();
        if let Some(l) = &self.ctx.license {
            if let Err(e) = l.reload() {
                warn!("licence keys not re-read: {e}");
            }
        }
        crate::sdnotify::reloaded(match result {
            Ok(_) => "serving (reloaded)",
            Err(_) => "serving (reload refused: see the log)",
        });
        match result {
            Ok(m) => info!("{what}: {m}"),
            Err(e) => {
                // One record, one line: a configuration's list of problems is joined.
                let one_line = e
                    .to_string()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                error!(
                    "{what} refused, still serving the previous configuration and database: \
                     {one_line}"
                );
                self.ctx
                    .notifier
                    .load()
                    .notify(bulwark_notify::Event::ReloadFailed {
                        reason: e.to_string(),
                    });
            }
        }
    }

    /// SIGUSR2 / `ctl stats`: writes `counter.stats` and reopens the log files.
    pub fn stats(&self) -> Result<String, StatsError> {
        let snap = self.ctx.snapshot.load();
        let mut done = Vec::new();
        if let Some(p) = &snap.config.log.counter_stats_file {
            write_atomic(p, self.ctx.stats.counter_stats().as_bytes()).map_err(|source| {
                StatsError::CounterStats {
                    path: p.clone(),
                    source,
                }
            })?;
            done.push(format!("counters written to {}", p.display()));
        }
        self.ctx.av_log.load().reopen().map_err(StatsError::AvLog)?;
        if let Some(r) = &self.report_log {
            r.reopen().map_err(StatsError::ReportLog)?;
        }
        done.push("log files reopened".into());
        let msg = done.join("; ");
        info!("stats: {msg}");
        Ok(msg)
    }

    /// `ctl status`: one line per fact.
    pub fn status(&self) -> String {
        let snap = self.ctx.snapshot.load();
        let s = &self.ctx.stats;
        format!(
            "version {}\nuptime_seconds {}\nistag {}\ndatabase {}\nconnections_open {}\nobjects_scanned {}\nobjects_infected {}\nlicense {}\n",
            env!("CARGO_PKG_VERSION"),
            s.uptime_secs(),
            snap.istag,
            snap.database.version(),
            s.open_connections(),
            crate::stats::STATUSES.iter().map(|st| s.objects_of(st)).sum::<u64>(),
            s.objects_of("infected"),
            self.ctx
                .license
                .as_ref()
                .map(|l| l.describe())
                .unwrap_or_else(|| "not required".into()),
        ) + if snap.database.is_builtin() {
            "warning the built-in EICAR test signature only: no [engine] database and no ClamAV \
             file in /var/lib/clamav\n"
        } else {
            ""
        }
    }

    /// SIGTERM / `ctl stop`: graceful shutdown.
    pub fn stop(&self) {
        crate::sdnotify::stopping();
        let _ = self.stop.send(true);
    }

    /// Runs one control command and returns the reply (first line `OK` or `ERROR`).
    pub async fn command(&self, line: &str) -> String {
        let reply = match line.trim() {
            "status" => Ok(self.status()),
            "reload" => self.reload().await.map_err(|e| e.to_string()),
            "reload-db" => self.reload_db().await.map_err(|e| e.to_string()),
            "stats" => self.stats().map_err(|e| e.to_string()),
            "stop" => {
                self.stop();
                Ok("stopping".into())
            }
            "metrics" => Ok(crate::metrics::exposition(&self.ctx)),
            other => Err(format!(
                "unknown command `{other}` (status, reload, reload-db, stats, stop, metrics)"
            )),
        };
        match reply {
            Ok(m) => format!("OK\n{}{}", m, if m.ends_with('\n') { "" } else { "\n" }),
            Err(e) => format!("ERROR\n{e}\n"),
        }
    }
}

/// Why SIGUSR2 / `ctl stats` could not do all of its work.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// `log.counter_stats_file` could not be written.
    #[error("{}: {source}", path.display())]
    CounterStats {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The AV statistics log could not be reopened.
    #[error("reopening the AV statistics log: {0}")]
    AvLog(std::io::Error),
    /// The report log could not be reopened.
    #[error("reopening the report log: {0}")]
    ReportLog(std::io::Error),
}

/// Writes a file through a temporary name and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Binds the control socket. A socket file left by a dead server is replaced; one that a live
/// server answers on is not taken over.
pub async fn bind_control(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another server answers on this control socket",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    // Only the owner (and root) may control the server.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves control commands, one line each, until the listener fails or the stop flag is set.
pub async fn serve_control(
    listener: UnixListener,
    ctl: Arc<Controller>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!("control socket: {e}");
                    return;
                }
            },
            _ = stop.changed() => return,
        };
        let ctl = ctl.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line()).await;
            if let Ok(Ok(Some(line))) = read {
                let reply = ctl.command(&line).await;
                let _ = w.write_all(reply.as_bytes()).await;
            }
            let _ = w.shutdown().await;
        });
    }
}

/// Reacts to SIGHUP (reload), SIGUSR1 (reload databases), SIGUSR2 (statistics), SIGTERM and
/// SIGINT (stop).
pub async fn handle_signals(ctl: Arc<Controller>) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        SignalKind::hangup(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
    ];
    let mut sigs = Vec::new();
    for k in kinds {
        match signal(k) {
            Ok(s) => sigs.push(s),
            Err(e) => {
                error!("cannot install signal handlers ({e}); use the control socket");
                return;
            }
        }
    }
    let [hup, usr1, usr2, term, int] = &mut sigs[..] else {
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                info!("SIGHUP received: reloading the configuration and the databases");
                let _ = ctl.reload().await;
            }
            _ = usr1.recv() => {
                info!("SIGUSR1 received: reloading the databases");
                let _ = ctl.reload_db().await;
            }
            _ = usr2.recv() => {
                info!("SIGUSR2 received: writing counters, reopening the log files");
                let _ = ctl.stats();
            }
            _ = term.recv() => { info!("SIGTERM received"); ctl.stop(); return; }
            _ = int.recv() => { info!("SIGINT received"); ctl.stop(); return; }
        }
    }
}

/// Periodic duties until `stop`: save the licence counters, warn about a licence that ends
/// soon (once a day), give freed memory back to the system, and at the end flush the
/// notifications.
pub async fn housekeeping(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut last_warning: Option<std::time::Instant> = None;
    let mut last_old: Option<std::time::Instant> = None;
    let mut engine_errors = ctx.stats.engine_errors();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        // What a burst of traffic left in the allocator's free lists goes back to the system
        // (a few milliseconds a minute; see `memtrim`).
        crate::memtrim::release_freed_memory();
        let snap = ctx.snapshot.load();
        let max_days = snap.config.engine.max_database_age_days;
        if let Some(age) = snap.database_age_secs() {
            let age_days = age / 86_400;
            let due =
                last_old.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(86_400));
            if max_days > 0 && age_days >= max_days && due {
                warn!(
                    age_days,
                    max_days, "the signature database is old: are updates running?"
                );
                ctx.notifier
                    .load()
                    .notify(bulwark_notify::Event::DatabaseOld { age_days });
                last_old = Some(std::time::Instant::now());
            }
        }
        let errors = ctx.stats.engine_errors();
        if errors > engine_errors {
            ctx.notifier
                .load()
                .notify(bulwark_notify::Event::EngineError {
                    reason: format!(
                        "{} scan(s) ended in an engine error in the last minute",
                        errors - engine_errors
                    ),
                });
        }
        engine_errors = errors;
        if let Some(l) = &ctx.license {
            l.save();
            if let Some(days) = l.expiring_soon() {
                let due = last_warning
                    .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(86_400));
                if due {
                    warn!(days, "the licence expires soon");
                    ctx.notifier
                        .load()
                        .notify(bulwark_notify::Event::LicenseExpiring { days });
                    last_warning = Some(std::time::Instant::now());
                }
            }
        }
    }
    if let Some(l) = &ctx.license {
        l.save();
    }
    ctx.notifier.load().shutdown().await;
    ctx.central.shutdown(SYSLOG_FLUSH).await;
}

/// How long the central log may take to deliver what it queued, at shutdown and when a reload
/// replaces its configuration: past it, what is left is dropped and counted.
pub const SYSLOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);
