//! What a run reports ([`Report`], its [`Outcome`] and keepup2date's exit code) and the update
//! report file: one line per run, appended.

use std::io::Write;
use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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
    /// An empty report with `outcome`.
    pub(crate) fn new(outcome: Outcome) -> Self {
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

    /// A report of a run that ended with `outcome` because of `e`.
    pub(crate) fn failed(outcome: Outcome, e: impl ToString) -> Self {
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

/// Appends `report`'s summary, prefixed with the time (RFC 3339, UTC), to `path`.
pub fn append(path: &Path, report: &Report) -> std::io::Result<()> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{now} update: {}", report.summary())
}
