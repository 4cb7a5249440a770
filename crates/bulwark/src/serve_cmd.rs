//! `bulwark serve`: load, bind, drop privileges, serve; signals and the control socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_config::{Config, Loaded};
use bulwark_server::control::{self, Controller, Overrides};
use bulwark_server::{Context, LogFile, Snapshot};
use bulwark_syslog::{CentralLog, SyslogLayer};
use clap::Args;
use tracing::{info, warn};

/// Arguments of `bulwark serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Default: `$BULWARK_CONFIG` when set (empty: none), else
    /// /etc/bulwark/bulwark.toml when it exists, else the embedded defaults.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, replacing `server.listen` (repeatable).
    #[arg(short, long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Signature directory or file (ClamAV formats), replacing `engine.database` (repeatable).
    #[arg(short, long, value_name = "PATH")]
    pub database: Vec<PathBuf>,
}

/// The packaged configuration file, read when no other is named.
pub const DEFAULT_CONFIG: &str = "/etc/bulwark/bulwark.toml";

/// The configuration file a daemon command uses: `explicit` (`--config`), else
/// `$BULWARK_CONFIG` (empty: none, the embedded defaults), else [`DEFAULT_CONFIG`] when it
/// exists, else none.
pub fn config_path(explicit: Option<&PathBuf>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.clone());
    }
    match std::env::var_os("BULWARK_CONFIG") {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    }
}

/// Loads the configuration file, or the embedded defaults without one.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Loaded> {
    match path {
        Some(p) => Ok(bulwark_config::load_file_with(
            p,
            bulwark_config::Strictness::Strict,
            &bulwark_server::Snapshot::check,
        )?),
        None => Ok(Loaded {
            config: Config::default(),
            warnings: Vec::new(),
        }),
    }
}

/// Sets up logging to stderr or the report file, and to syslog when `[log.syslog]` sends the
/// report; returns the file for reopening.
fn init_logging(cfg: &Config, central: &Arc<CentralLog>) -> anyhow::Result<Option<LogFile>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, Registry};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},bulwark=info", cfg.log.level)));
    let json = cfg.log.format == "json";
    let (fmt, file): (Box<dyn Layer<Registry> + Send + Sync>, _) = match &cfg.log.report_file {
        Some(path) => {
            let file = LogFile::open(Some(path), cfg.log.append)
                .with_context(|| format!("log.report_file {}", path.display()))?;
            let w = file.clone();
            let b = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || w.writer());
            if json {
                (b.json().boxed(), Some(file))
            } else {
                (b.boxed(), Some(file))
            }
        }
        None => {
            use std::io::IsTerminal;
            let b = tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr);
            if json {
                (b.json().boxed(), None)
            } else {
                (b.boxed(), None)
            }
        }
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(SyslogLayer::new(central.clone()))
        .with(filter)
        .init();
    Ok(file)
}

/// The live Bulwark process a pid file names, other than this one (a stale file, or one naming
/// a pid now reused by another program, names none).
fn pid_file_owner(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    if pid == std::process::id() {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let name = Path::new(std::str::from_utf8(argv0).ok()?).file_name()?;
    (name == "bulwark").then_some(pid)
}

/// Writes the pid file; a failure is a warning, not a reason to refuse service.
fn write_pid(path: &Path) {
    let write = || -> std::io::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        control::write_atomic(path, format!("{}\n", std::process::id()).as_bytes())
    };
    match write() {
        Ok(()) => info!(file = %path.display(), "pid file written"),
        Err(e) => warn!(file = %path.display(), "pid file not written: {e}"),
    }
}

/// Removes the pid file if it still names this process.
fn remove_pid(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        if text.trim() == std::process::id().to_string() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Switches to `user` (and its primary group) after the privileged work is done.
fn drop_privileges(user: &str) -> anyhow::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, User};
    let u = User::from_name(user)
        .with_context(|| format!("looking up user {user}"))?
        .with_context(|| format!("control.user: no user named {user}"))?;
    if nix::unistd::geteuid() == u.uid {
        return Ok(());
    }
    setgroups(&[u.gid]).context("setgroups")?;
    setgid(u.gid).context("setgid")?;
    setuid(u.uid).context("setuid")?;
    info!(user, uid = u.uid.as_raw(), "privileges dropped");
    Ok(())
}

/// Runs the server until it is stopped.
pub fn run(mut args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Before any other thread allocates (see `bulwark_server::limit_arenas`).
    bulwark_server::limit_arenas();
    // Resolved once: reloads read the same file.
    args.config = config_path(args.config.as_ref());
    let loaded = load_config(args.config.as_ref())?;
    let overrides = Overrides {
        listen: args.listen.clone(),
        database: args.database.clone(),
    };
    let mut config = loaded.config;
    overrides.apply(&mut config);
    // Made before the runtime so that the start-up messages are queued for it too.
    let central = CentralLog::new(&config.log.syslog);
    let report_log = init_logging(&config, &central)?;
    match &args.config {
        Some(p) => info!(file = %p.display(), "configuration loaded"),
        None => info!(
            "no configuration file (--config, $BULWARK_CONFIG, {DEFAULT_CONFIG}): using the embedded defaults"
        ),
    }
    for w in &loaded.warnings {
        warn!("configuration: {w}");
    }
    let database = control::load_database(&config.engine)
        .map_err(|e| anyhow::anyhow!("cannot load the signature database: {e}"))?;
    let av_log =
        LogFile::open(config.log.av_stats_file.as_deref(), true).context("log.av_stats_file")?;
    let license = bulwark_server::licensing::Enforcer::open(&config.license)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pid_file = config.control.pid_file.clone();
    let mut owned_socket = None;
    let snapshot = Snapshot::new(Arc::new(config), Arc::new(database))
        .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let owned = &mut owned_socket;
    runtime.block_on(async move {
        let cfg = snapshot.config.clone();
        // Everything that may need privileges first: ports, control socket, pid file.
        let listeners = bulwark_server::bind(&cfg).await?;
        let mut metric_listeners = Vec::new();
        for addr in &cfg.metrics.listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            metric_listeners.push(l);
        }
        let console_listeners = bulwark_console::bind_console(&cfg.console).await?;
        let clamd_listeners = bulwark_clamd::bind(&cfg.clamd).await?;
        let api_listeners = bulwark_api::bind(&cfg.api).await?;
        let control_socket = match &cfg.control.socket {
            Some(p) => match control::bind_control(p).await {
                Ok(l) => {
                    *owned = Some(p.clone());
                    Some(l)
                }
                Err(e) => {
                    warn!(socket = %p.display(), "control socket disabled: {e}");
                    None
                }
            },
            None => None,
        };
        if let Some(p) = &cfg.control.pid_file {
            // One pid file, one server: a second instance must not take over (and later
            // delete) the first one's file. It runs without one, as with a control socket
            // that another server answers on.
            match pid_file_owner(p) {
                Some(pid) => warn!(
                    file = %p.display(),
                    "pid file not written: another Bulwark (pid {pid}) owns it; give this \
                     instance its own control.pid_file and control.socket"
                ),
                None => write_pid(p),
            }
        }
        if let Some(user) = &cfg.control.user {
            drop_privileges(user)?;
        }
        let notifier = bulwark_notify::Notifier::spawn(snapshot.config.notify.clone());
        central.start();
        if let Some(host) = central.hostname() {
            let s = &cfg.log.syslog;
            info!(
                transport = ?s.transport,
                format = ?s.format,
                hostname = %host,
                "central log to syslog on"
            );
        }
        let ctx = Context::with_central(snapshot, av_log, license, notifier, central);
        let istag = ctx.snapshot.load().istag.clone();
        for addr in listeners.local_addrs() {
            info!(%istag, "listening on {addr}");
        }
        for addr in listeners.tls_addrs() {
            info!(%istag, "listening on {addr} (TLS)");
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ctl = Controller::new(
            ctx.clone(),
            args.config.clone(),
            overrides,
            listeners.tls_handle(),
            report_log,
            stop_tx,
        );
        for l in metric_listeners {
            if let Ok(a) = l.local_addr() {
                info!("metrics on http://{a}/metrics");
            }
            tokio::spawn(bulwark_server::metrics::serve_metrics(
                l,
                ctx.clone(),
                stop_rx.clone(),
            ));
        }
        if !console_listeners.is_empty() {
            for l in &console_listeners {
                if let Ok(a) = l.local_addr() {
                    info!("web console on {a}");
                }
            }
            match crate::console_backend::console_tls(&cfg.console) {
                Ok(tls) => {
                    let backend = crate::console_backend::ServerBackend::new(
                        ctx.clone(),
                        ctl.clone(),
                        update_request(&ctx, &ctl),
                    );
                    tokio::spawn(bulwark_console::serve_console(
                        console_listeners,
                        Arc::new(backend),
                        tls,
                        args.config.clone(),
                        stop_rx.clone(),
                    ));
                }
                Err(e) => tracing::error!("web console: {e}"),
            }
        }
        if !clamd_listeners.is_empty() {
            for what in clamd_listeners.describe() {
                info!("clamd protocol on {what}");
            }
            tokio::spawn(bulwark_clamd::serve(
                clamd_listeners,
                ctx.clone(),
                clamd_hooks(&ctl),
                stop_rx.clone(),
            ));
        }
        if !api_listeners.is_empty() {
            for l in &api_listeners {
                if let Ok(a) = l.local_addr() {
                    info!("scanning API on http://{a}/v1/scan");
                }
            }
            tokio::spawn(bulwark_api::serve(
                api_listeners,
                ctx.clone(),
                stop_rx.clone(),
            ));
        }
        if let Some(l) = control_socket {
            tokio::spawn(control::serve_control(l, ctl.clone(), stop_rx.clone()));
        }
        tokio::spawn(update_supervisor(ctx.clone(), ctl.clone(), stop_rx.clone()));
        tokio::spawn(control::handle_signals(ctl.clone()));
        tokio::spawn(bulwark_server::sdnotify::watchdog(stop_rx.clone()));
        bulwark_server::sdnotify::ready(&format!(
            "serving ICAP on {} (database {})",
            listeners
                .local_addrs()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            ctx.snapshot.load().database.version()
        ));
        let housekeeping = tokio::spawn(control::housekeeping(ctx.clone(), stop_rx.clone()));
        bulwark_server::serve(listeners, ctx, stop_rx).await?;
        let _ = housekeeping.await;
        Ok::<_, anyhow::Error>(())
    })?;
    if let Some(p) = &pid_file {
        remove_pid(p);
    }
    if let Some(p) = owned_socket {
        let _ = std::fs::remove_file(p);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the clamd listener's RELOAD and SHUTDOWN do: the controller's database reload and
/// stop (SHUTDOWN only when `clamd.allow_shutdown` is on).
fn clamd_hooks(ctl: &Arc<Controller>) -> bulwark_clamd::Hooks {
    let (reload_ctl, stop_ctl) = (ctl.clone(), ctl.clone());
    bulwark_clamd::Hooks {
        reload: Some(Arc::new(move || {
            let ctl = reload_ctl.clone();
            Box::pin(async move {
                ctl.reload_db()
                    .await
                    .map_err(|e| -> bulwark_clamd::ReloadFailure { Box::new(e) })
            })
        })),
        shutdown: Some(Arc::new(move || stop_ctl.stop())),
    }
}

/// How often the update supervisor looks for a changed `[update]` section.
const UPDATE_CONFIG_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the scheduled database updates with the `[update]` section in force: when a reload
/// changes it (sources added, removed, another interval…), the schedule restarts with the new
/// section instead of keeping the one read at start.
async fn update_supervisor(
    ctx: Arc<Context>,
    ctl: Arc<Controller>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let section = ctx.snapshot.load().config.update.clone();
        let (gen_tx, gen_rx) = tokio::sync::watch::channel(false);
        let task = update_request(&ctx, &ctl).map(|req| {
            let notifier_ctx = ctx.clone();
            tokio::spawn(bulwark_update::run_schedule(req, gen_rx, move |report| {
                let n = notifier_ctx.notifier.load();
                match report.exit_code() {
                    0 => {}
                    1 => n.notify(bulwark_notify::Event::UpdateDone {
                        version: report.to.clone().unwrap_or_default(),
                    }),
                    _ => n.notify(bulwark_notify::Event::UpdateFailed {
                        reason: report.summary(),
                    }),
                }
            }))
        });
        // Until the section changes or the server stops.
        loop {
            tokio::select! {
                _ = tokio::time::sleep(UPDATE_CONFIG_POLL) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                let _ = gen_tx.send(true);
                return;
            }
            if ctx.snapshot.load().config.update != section {
                info!("[update] changed: scheduled updates follow the new section");
                break;
            }
        }
        let _ = gen_tx.send(true);
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// The update request of the running server: `[update]` with its licence, reloading the
/// databases in process when an update is installed. `None` when no source is configured.
fn update_request(
    ctx: &Arc<Context>,
    ctl: &Arc<Controller>,
) -> Option<bulwark_update::UpdateRequest> {
    let cfg = ctx.snapshot.load().config.clone();
    if cfg.update.sources.is_empty() {
        return None;
    }
    let mut req = bulwark_update::UpdateRequest::new(cfg.update.clone());
    req.license = crate::update_license::gate(&cfg.license);
    let ctl = ctl.clone();
    let handle = tokio::runtime::Handle::current();
    req.reload = bulwark_update::ReloadHook::Callback(Arc::new(move || {
        handle
            .block_on(ctl.reload_db())
            .map(|_| ())
            .map_err(|e| -> bulwark_update::ReloadFailure { Box::new(e) })
    }));
    Some(req)
}
