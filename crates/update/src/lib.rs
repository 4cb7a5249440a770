//! Database updates for Bulwark (issue #7, SPEC F-UPD): kav4proxy's keepup2date, rebuilt.
//!
//! - [`index`]: the signed update index (version, publication time, files with sizes and
//!   SHA-256, Ed25519 signature with `bulwark_sign`'s key files).
//! - [`publish`]: `bulwark db keygen|build|sign`, making a mirror.
//! - [`fetch`]: where files come from (HTTP/HTTPS mirrors through an optional proxy, local
//!   directories; `clamav:` marks a ClamAV-layout mirror) with timeouts, retries and size caps.
//! - Inside: `run` drives each configured source through the `Source` trait (`source`), one
//!   implementation per layout (`bulwark_source`, `clamav_source`) that installs into the
//!   database or, in mirror mode, copies into a mirror (`mirror`: the shared file steps).
//! - [`install`]: staging, atomic symlink switch, backup, rollback, lock.
//! - [`cvd`]: ClamAV `.cvd`/`.cld` headers and the legacy MD5 + RSA digital signature.
//! - [`run()`]: one update ([`UpdateRequest`] → [`Report`], whose `exit_code` is keepup2date's);
//!   [`run_schedule`]: the same on a timer inside `serve`; [`hooks`]: reload and
//!   PostUpdateCmd; [`LicenseGate`]: the licence check, implemented by the caller (this crate
//!   does not depend on `bulwark-license`).
//!
//! See README.md for the layouts and the commands.

mod bulwark_source;
mod clamav_source;
pub mod config;
pub mod cvd;
#[cfg(test)]
mod cvd_test_key;
mod error;
pub mod fetch;
mod hex;
pub mod hooks;
pub mod index;
pub mod install;
mod license;
mod mirror;
pub mod publish;
mod report;
mod run;
mod schedule;
mod source;
mod verify;

pub use clamav_source::{local_header, DATABASES};
pub use config::FileSettings;
pub use error::{
    CommandLineError, FetchError, PostUpdateError, ProxyError, ReloadError, SourceError,
    UpdateError,
};
pub use hooks::{ReloadFailure, ReloadFn, ReloadHook, Reloaded};
pub use license::{DatabaseAllowance, LicenseGate, LicenseRefused};
pub use report::{Outcome, Report};
pub use run::{run, UpdateRequest};
pub use schedule::{next_wait, run_schedule};
pub use verify::{test_load, TestLoad};
