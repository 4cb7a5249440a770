//! The licence's say on updates. This crate reads no licence itself (it does not depend on
//! `bulwark-license`): the caller implements [`LicenseGate`] — the binary does, over
//! `bulwark_license::Licensing` — and puts it in the [`crate::UpdateRequest`] when
//! `[license] required = true`.

use std::fmt;

use time::OffsetDateTime;

/// Checks the licence at the start of every update run.
pub trait LicenseGate: fmt::Debug + Send + Sync {
    /// Reads the licence now. `Err` refuses the run (exit code 60, the refusal as its error);
    /// `Ok` says which databases this run may install or mirror.
    fn open(&self) -> Result<Box<dyn DatabaseAllowance>, LicenseRefused>;
}

/// Which databases the licence allows, for one run.
pub trait DatabaseAllowance {
    /// Whether a database published at `published` may be installed (or mirrored); a refusal
    /// ends the run with exit code 60.
    fn allows_database(&self, published: OffsetDateTime) -> bool;
}

/// Why the licence refuses an update, in the licence's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LicenseRefused(pub String);
