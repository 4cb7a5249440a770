//! One update run: the configured sources in order, each driven through the `Source` trait
//! (install, or mirror mode), then reload and PostUpdateCmd; the outcome maps to keepup2date's
//! exit codes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::bulwark_source::BulwarkSource;
use crate::clamav_source::ClamAvSource;
use crate::cvd::CvdKey;
use crate::error::UpdateError;
use crate::fetch::{Fetcher, Layout, SourceSpec};
use crate::hooks::{run_post_update, ReloadHook, Reloaded};
use crate::install::Installation;
use crate::license::LicenseGate;
use crate::report::{Outcome, Report};
use crate::source::{Source, Step, UpdateEnv};
use bulwark_config::UpdateConfig;

/// What one run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// The `[update]` settings (sources, database, keys, proxy, timeouts, hooks).
    pub config: UpdateConfig,
    /// The licence check (set when `[license] required = true`): the run needs the gate's
    /// permission, and each database its allowance (else exit code 60).
    pub license: Option<Arc<dyn LicenseGate>>,
    /// Mirror mode: update this directory (update-server layout) instead of the database.
    pub mirror_to: Option<PathBuf>,
    /// The key that must have signed CVDs from ClamAV-layout sources (ClamAV's by default).
    pub cvd_key: CvdKey,
    /// How the running server is told to reload after an install.
    pub reload: ReloadHook,
}

impl UpdateRequest {
    /// A request for `config`, reloading through its `control_socket` (if any).
    pub fn new(config: UpdateConfig) -> Self {
        let reload = match &config.control_socket {
            Some(p) => ReloadHook::ControlSocket(p.clone()),
            None => ReloadHook::None,
        };
        UpdateRequest {
            config,
            reload,
            ..UpdateRequest::default()
        }
    }
}

/// The source for a configured one: the only place that looks at the layout.
fn source(spec: SourceSpec) -> Box<dyn Source> {
    match spec.layout {
        Layout::Bulwark => Box::new(BulwarkSource::new(spec.location)),
        Layout::ClamAv => Box::new(ClamAvSource::new(spec.location)),
    }
}

/// The configured sources, in order.
type Sources = Vec<Box<dyn Source>>;

/// What the run needs before trying sources: the environment and the sources; a report with
/// exit code 75 (configuration) or 60 (licence) when it cannot start.
fn prepare(req: &UpdateRequest) -> Result<(UpdateEnv, Sources), Box<Report>> {
    let cfg = &req.config;
    let cfg_err = |reason: String| {
        Box::new(Report::failed(
            Outcome::Config,
            UpdateError::Config {
                path: PathBuf::from("[update]"),
                reason,
            },
        ))
    };
    if cfg.sources.is_empty() {
        return Err(cfg_err("no update source (sources, --source or -g)".into()));
    }
    let sources: Sources = cfg
        .sources
        .iter()
        .map(|s| SourceSpec::parse(s).map(source))
        .collect::<Result<_, _>>()
        .map_err(|e| cfg_err(e.to_string()))?;
    let trusted = bulwark_sign::read_trusted(&cfg.trusted_keys)
        .map_err(|e| cfg_err(format!("trusted_keys: {e}")))?;
    if trusted.is_empty() && sources.iter().any(|s| s.needs_trusted_keys()) {
        return Err(cfg_err(
            "no trusted key (trusted_keys or --trusted-key) to verify the update index".into(),
        ));
    }
    let fetcher = Fetcher::new(
        Duration::from_secs(cfg.timeout_secs.max(1)),
        cfg.retries,
        cfg.proxy.as_deref(),
    )
    .map_err(|e| cfg_err(e.to_string()))?;
    let license = match &req.license {
        Some(gate) => Some(
            gate.open()
                .map_err(|e| Box::new(Report::failed(Outcome::License, e)))?,
        ),
        None => None,
    };
    Ok((
        UpdateEnv {
            fetcher,
            trusted,
            cvd_key: req.cvd_key.clone(),
            max_file: cfg.max_file_bytes,
            license,
        },
        sources,
    ))
}

/// Runs one update (blocking: call it from a blocking thread in async code) and appends its
/// summary to the report file, if one is configured.
pub fn run(req: &UpdateRequest) -> Report {
    let report = run_inner(req);
    match report.outcome {
        Outcome::Current | Outcome::Updated => tracing::info!("update: {}", report.summary()),
        _ => tracing::error!("update: {}", report.summary()),
    }
    if let Some(path) = &req.config.report_file {
        if let Err(e) = crate::report::append(path, &report) {
            tracing::warn!(file = %path.display(), error = %e, "could not write the update report");
        }
    }
    report
}

fn run_inner(req: &UpdateRequest) -> Report {
    let (env, sources) = match prepare(req) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let cfg = &req.config;
    let inst = Installation::new(&cfg.database_dir, &cfg.backup_path());
    let _lock = match &req.mirror_to {
        Some(_) => None,
        None => match inst.lock() {
            Ok(l) => Some(l),
            Err(e) => return Report::failed(Outcome::Failed, e),
        },
    };
    let mut notes = Vec::new();
    for src in &sources {
        let res = match &req.mirror_to {
            Some(dir) => crate::mirror::create(dir).and_then(|()| src.mirror(&env, dir)),
            None => src.install(&env, &inst),
        };
        match res {
            Ok(step) => {
                let mut r = Report::new(Outcome::Current);
                r.source = Some(src.name());
                r.notes = notes;
                match step {
                    Step::Current { version } => r.to = Some(version),
                    Step::Installed {
                        from,
                        to,
                        files,
                        bytes,
                        signatures,
                    } => {
                        r.outcome = Outcome::Updated;
                        (r.from, r.to, r.files, r.bytes, r.signatures) =
                            (from, Some(to), files, bytes, signatures);
                        if req.mirror_to.is_none() {
                            after_install(req, &inst, &mut r);
                        }
                    }
                }
                return r;
            }
            Err(UpdateError::License(e)) => {
                let mut r = Report::failed(Outcome::License, e);
                r.source = Some(src.name());
                r.notes = notes;
                return r;
            }
            Err(e) => {
                tracing::warn!(source = %src.name(), error = %e, "update source failed");
                notes.push(format!("{}: {e}", src.name()));
            }
        }
    }
    let mut r = Report::failed(
        Outcome::Failed,
        UpdateError::AllSourcesFailed(format!("{} source(s) tried", sources.len())),
    );
    r.notes = notes;
    r
}

/// Reload (rolled back when the server refuses the new database), then PostUpdateCmd.
fn after_install(req: &UpdateRequest, inst: &Installation, r: &mut Report) {
    match req.reload.run() {
        Reloaded::Done => r
            .notes
            .push("the running server reloaded the databases".into()),
        Reloaded::NotRunning => r.notes.push("no running server to reload".into()),
        Reloaded::Failed(e) => {
            let rb = match inst.rollback(true) {
                Ok(_) => "rolled back to the previous database".to_string(),
                Err(re) => format!("rollback failed too: {re}"),
            };
            r.outcome = Outcome::Failed;
            r.error = Some(format!("{}; {rb}", UpdateError::Reload(e)));
            return;
        }
    }
    if let Some(cmd) = &req.config.post_update_cmd {
        match run_post_update(cmd) {
            Ok(()) => r.notes.push("PostUpdateCmd succeeded".into()),
            Err(e) => {
                r.outcome = Outcome::PostUpdateFailed;
                r.error = Some(format!("PostUpdateCmd: {e}"));
            }
        }
    }
}
