//! What `run` drives: an update source ([`Source`], one implementation per layout, each in its
//! own module), what it works with ([`UpdateEnv`]) and what it reports ([`Step`]). Sources
//! import from here, never from `run`, which calls them.

use std::path::Path;

use bulwark_sign::VerifyingKey;
use time::OffsetDateTime;

use crate::cvd::CvdKey;
use crate::error::UpdateError;
use crate::fetch::Fetcher;
use crate::install::Installation;
use crate::license::DatabaseAllowance;

/// An update source of one layout at one location (`bulwark_source`, `clamav_source`).
pub(crate) trait Source {
    /// The source as the report and the log name it (credentials removed).
    fn name(&self) -> String;

    /// Whether what it serves is verified with the trusted Ed25519 keys (an update index), so
    /// that a run without any trusted key is a configuration error.
    fn needs_trusted_keys(&self) -> bool;

    /// Brings the installed database up to date from this source: download, verify, test-load
    /// and install into `inst` (whose lock the caller holds).
    fn install(&self, env: &UpdateEnv, inst: &Installation) -> Result<Step, UpdateError>;

    /// Mirror mode: brings the directory `dir` (which exists) up to date from this source, in
    /// the source's own layout, for other servers to use as their source.
    fn mirror(&self, env: &UpdateEnv, dir: &Path) -> Result<Step, UpdateError>;
}

/// What one source did.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// The database (or mirror) already had what the source offers.
    Current {
        /// The version found current.
        version: String,
    },
    /// A new database was installed (or the mirror updated).
    Installed {
        /// The version before, when known.
        from: Option<String>,
        /// The version now.
        to: String,
        /// Files downloaded.
        files: usize,
        /// Bytes downloaded.
        bytes: u64,
        /// Signatures the test load counted (0 in mirror mode).
        signatures: u64,
    },
}

/// What every source works with during one run: how to fetch, what to verify against, how
/// large a file may be, and the licence's allowance.
pub(crate) struct UpdateEnv {
    /// Downloads from the sources (proxy, timeouts, retries).
    pub fetcher: Fetcher,
    /// The keys an update index must be signed with.
    pub trusted: Vec<VerifyingKey>,
    /// The key ClamAV CVDs must be signed with.
    pub cvd_key: CvdKey,
    /// Largest file accepted from a source, in bytes.
    pub max_file: u64,
    /// Which databases the licence allows (`None`: the licence is not checked).
    pub license: Option<Box<dyn DatabaseAllowance>>,
}

impl UpdateEnv {
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
