//! The scan engine.
//!
//! A [`Database`] is compiled once and shared read-only (`Arc`) by every scan; a [`Scanner`] is
//! cheap, made per object, fed bytes as they arrive, and finished into a [`Verdict`].

mod eicar;
pub mod sigs;
mod verdict;

use std::sync::Arc;

pub use verdict::{Status, Threat, Verdict};

/// Options of one scan (the policy group chooses them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// Signature sets to use; `None` means every set in the database.
    pub sets: Option<Vec<String>>,
}

/// An immutable, compiled signature database.
#[derive(Debug)]
pub struct Database {
    version: String,
}

impl Database {
    /// The built-in database: EICAR only.
    pub fn builtin() -> Self {
        Self {
            version: "builtin-1".to_string(),
        }
    }

    /// A short version string that changes whenever the signatures change (used in the ISTag).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// One scan of one object: feed it the bytes in order, then finish it.
#[derive(Debug)]
pub struct Scanner {
    _db: Arc<Database>,
    eicar: eicar::EicarMatcher,
    size: u64,
}

impl Scanner {
    /// A scanner over `db` with `options`.
    pub fn new(db: Arc<Database>, options: &ScanOptions) -> Self {
        let _ = options;
        Self {
            _db: db,
            eicar: eicar::EicarMatcher::default(),
            size: 0,
        }
    }

    /// Feeds the next bytes of the object.
    pub fn feed(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        self.eicar.feed(data);
    }

    /// A detection found so far, if any, so a caller may stop early.
    pub fn early_detection(&self) -> Option<&str> {
        self.eicar.found().then_some(eicar::NAME)
    }

    /// Bytes fed so far.
    pub fn bytes_scanned(&self) -> u64 {
        self.size
    }

    /// Ends the scan and returns the verdict.
    pub fn finish(self) -> Verdict {
        if self.eicar.found() {
            Verdict::infected(vec![Threat::new(eicar::NAME, "")])
        } else {
            Verdict::clean()
        }
    }
}
