//! The scan engine.
//!
//! A [`Database`] is compiled once and shared read-only (`Arc`) by every scan; a [`Scanner`] is
//! cheap, made per object, fed bytes as they arrive, and finished into a [`Verdict`].
//!
//! Layout (see `README.md`): [`sigs`] parses ClamAV's formats line by line; `load` reads files,
//! gzip and CVD containers and reports what loaded; `db` compiles signatures into one atom
//! matcher per target type ([`matcher`]: Vectorscan FFI, or daachorse with `pure-rust`); `scan`
//! is the streaming scanner; [`filetype`] detects target types and executable layouts.

mod atoms;
mod db;
mod eicar;
pub mod filetype;
mod load;
pub mod matcher;
mod scan;
pub mod sigs;
mod store;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use load::{is_signature_file, FileReport, LoadError, LoadOptions, LoadReport};
pub use verdict::{Status, Threat, Verdict};

/// Options of one scan (the policy group chooses them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// Signature sets to use; `None` means every set in the database.
    pub sets: Option<Vec<String>>,
    /// Bytes of an object kept in memory (default 16 MiB); beyond it executables spill to a temp
    /// file and other objects keep only their head and tail.
    pub memory_limit: Option<usize>,
    /// Largest spill file per object (default 512 MiB).
    pub spill_limit: Option<u64>,
}

/// An immutable, compiled signature database.
#[derive(Debug)]
pub struct Database {
    version: String,
    sets: Vec<String>,
    c: db::Compiled,
}

impl Database {
    /// The built-in database: EICAR only.
    pub fn builtin() -> Self {
        let c = db::Builder::new()
            .finish()
            .unwrap_or_else(|_| db::Compiled::empty());
        Self {
            version: "builtin-1".to_string(),
            sets: Vec::new(),
            c,
        }
    }

    /// Loads signature files or directories (any mix of ClamAV formats, plain or gzip'd, CVD/CLD).
    pub fn load(
        paths: &[PathBuf],
        opts: &LoadOptions,
    ) -> Result<(Database, LoadReport), LoadError> {
        let t0 = Instant::now();
        let mut b = db::Builder::new();
        let mut sets = Vec::new();
        let (files, digest) = load::load_into(paths, opts, &mut b, &mut sets)?;
        let t1 = Instant::now();
        let c = b.finish()?;
        let compile_time = t1.elapsed();
        let report = LoadReport {
            files,
            total_time: t0.elapsed(),
            compile_time,
            matcher_bytes: c
                .groups
                .iter()
                .filter_map(|g| g.db.as_ref())
                .map(|d| d.size())
                .sum(),
            atoms: c.groups.iter().map(|g| g.refs.len()).sum(),
            weak_atoms: c.weak_atoms,
        };
        tracing::info!(
            signatures = report.files.iter().map(|f| f.loaded).sum::<u64>(),
            ms = report.total_time.as_millis() as u64,
            "signature database loaded"
        );
        Ok((
            Database {
                version: format!("db-{digest}"),
                sets,
                c,
            },
            report,
        ))
    }

    /// A short version string that changes whenever the signatures change (used in the ISTag).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The names of the signature sets, in load order.
    pub fn sets(&self) -> &[String] {
        &self.sets
    }
}

/// One scan of one object: feed it the bytes in order, then finish it.
#[derive(Debug)]
pub struct Scanner {
    inner: scan::Inner,
    eicar: eicar::EicarMatcher,
}

impl Scanner {
    /// A scanner over `db` with `options`.
    pub fn new(db: Arc<Database>, options: &ScanOptions) -> Self {
        Self {
            inner: scan::Inner::new(db, options),
            eicar: eicar::EicarMatcher::default(),
        }
    }

    /// Tells the scanner the object's total size in advance (e.g. Content-Length), so that hash
    /// signatures are only computed when the size can match.
    pub fn set_size_hint(&mut self, size: u64) {
        self.inner.set_size_hint(size);
    }

    /// Feeds the next bytes of the object.
    pub fn feed(&mut self, data: &[u8]) {
        self.eicar.feed(data);
        self.inner.feed(data);
    }

    /// A detection found so far, if any, so a caller may stop early.
    pub fn early_detection(&self) -> Option<&str> {
        if self.eicar.found() {
            return Some(eicar::NAME);
        }
        self.inner.early()
    }

    /// Bytes fed so far.
    pub fn bytes_scanned(&self) -> u64 {
        self.inner.size()
    }

    /// Ends the scan and returns the verdict.
    pub fn finish(self) -> Verdict {
        let e = self.eicar.found();
        self.inner.finish(e)
    }
}

#[cfg(test)]
mod tests;
