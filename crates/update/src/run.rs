//! One update run: sources in order, then reload and PostUpdateCmd; the outcome maps to
//! keepup2date's exit codes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulwark_sign::VerifyingKey;
use time::OffsetDateTime;

use crate::config::UpdateConfig;
use crate::cvd::CvdKey;
use crate::error::UpdateError;
use crate::fetch::{Fetcher, Layout, Source};
use crate::hooks::{run_post_update, ReloadHook, Reloaded};
use crate::install::Installation;
use crate::license::{DatabaseAllowance, LicenseGate};

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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The database (or mirror) was already current (exit code 0).
    Current,
    /// A new database was installed (or the mirror updated) (exit code 1).
    Updated,
    /// Nothing was installed, or the install was rolled back (exit code 10).
    Failed,
    /// Installed, but PostUpdateCmd failed (exit code 30).
    PostUpdateFailed,
    /// The licence does not allow the update (exit code 60).
    License,
    /// The configuration is unusable (exit code 75).
    Config,
}

impl Outcome {
    /// keepup2date's exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Current => 0,
            Outcome::Updated => 1,
            Outcome::Failed => 10,
            Outcome::PostUpdateFailed => 30,
            Outcome::License => 60,
            Outcome::Config => 75,
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The source used (credentials removed).
    pub source: Option<String>,
    /// Version before (`None`: nothing was installed).
    pub from: Option<String>,
    /// Version after, or the version found current.
    pub to: Option<String>,
    /// Files downloaded.
    pub files: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Signatures in the new database (test load).
    pub signatures: u64,
    /// What happened along the way: failed sources, reload, PostUpdateCmd.
    pub notes: Vec<String>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
}

impl Report {
    fn new(outcome: Outcome) -> Self {
        Report {
            outcome,
            source: None,
            from: None,
            to: None,
            files: 0,
            bytes: 0,
            signatures: 0,
            notes: Vec::new(),
            error: None,
        }
    }

    fn failed(outcome: Outcome, e: impl ToString) -> Self {
        let mut r = Report::new(outcome);
        r.error = Some(e.to_string());
        r
    }

    /// keepup2date's exit code.
    pub fn exit_code(&self) -> u8 {
        self.outcome.exit_code()
    }

    /// One line for the report file and the log.
    pub fn summary(&self) -> String {
        let what = match self.outcome {
            Outcome::Current => {
                format!("up to date (version {})", self.to.as_deref().unwrap_or("?"))
            }
            Outcome::Updated | Outcome::PostUpdateFailed => format!(
                "updated {} -> {} ({} files, {} bytes downloaded, {} signatures)",
                self.from.as_deref().unwrap_or("none"),
                self.to.as_deref().unwrap_or("?"),
                self.files,
                self.bytes,
                self.signatures
            ),
            Outcome::Failed => "failed".into(),
            Outcome::License => "refused by the licence".into(),
            Outcome::Config => "configuration error".into(),
        };
        let mut s = format!("{what}; exit code {}", self.exit_code());
        if let Some(src) = &self.source {
            s.push_str(&format!("; source {src}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("; error: {e}"));
        }
        for n in &self.notes {
            s.push_str(&format!("; {n}"));
        }
        s
    }
}

/// The result of one source.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Current {
        version: String,
    },
    Installed {
        from: Option<String>,
        to: String,
        files: usize,
        bytes: u64,
        signatures: u64,
    },
}

/// What a source needs.
pub(crate) struct Ctx {
    pub fetcher: Fetcher,
    pub trusted: Vec<VerifyingKey>,
    pub cvd_key: CvdKey,
    pub max_file: u64,
    pub license: Option<Box<dyn DatabaseAllowance>>,
}

impl Ctx {
    /// Refuses a database the licence does not allow (published after an expired key's end).
    pub fn check_published(&self, published: OffsetDateTime) -> Result<(), UpdateError> {
        match &self.license {
            Some(l) if !l.allows_database(published) => Err(UpdateError::License(format!(
                "the database published {published} is newer than the licence allows"
            ))),
            _ => Ok(()),
        }
    }
}

fn prepare(req: &UpdateRequest) -> Result<(Ctx, Vec<Source>), Box<Report>> {
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
    let sources = cfg
        .sources
        .iter()
        .map(|s| Source::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(cfg_err)?;
    let trusted = bulwark_sign::read_trusted(&cfg.trusted_keys)
        .map_err(|e| cfg_err(format!("trusted_keys: {e}")))?;
    if trusted.is_empty() && sources.iter().any(|s| s.layout == Layout::Bulwark) {
        return Err(cfg_err(
            "no trusted key (trusted_keys or --trusted-key) to verify the update index".into(),
        ));
    }
    let fetcher = Fetcher::new(
        Duration::from_secs(cfg.timeout_secs.max(1)),
        cfg.retries,
        cfg.proxy.as_deref(),
    )
    .map_err(cfg_err)?;
    let license = match &req.license {
        Some(gate) => Some(
            gate.open()
                .map_err(|e| Box::new(Report::failed(Outcome::License, e)))?,
        ),
        None => None,
    };
    Ok((
        Ctx {
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
    let (ctx, sources) = match prepare(req) {
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
            Some(dir) => crate::mirror::update(&ctx, src, dir),
            None => match src.layout {
                Layout::Bulwark => crate::bulwark_source::update(&ctx, &src.location, &inst),
                Layout::ClamAv => crate::clamav_source::update(&ctx, &src.location, &inst),
            },
        };
        match res {
            Ok(step) => {
                let mut r = Report::new(Outcome::Current);
                r.source = Some(src.display());
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
                r.source = Some(src.display());
                r.notes = notes;
                return r;
            }
            Err(e) => {
                tracing::warn!(source = %src.display(), error = %e, "update source failed");
                notes.push(format!("{}: {e}", src.display()));
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
