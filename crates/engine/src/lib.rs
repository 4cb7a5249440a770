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
mod cache;
pub mod cltype;
mod db;
mod eicar;
pub mod filetype;
mod load;
pub mod matcher;
pub mod normalise;
mod pcre;
mod pe;
mod pool;
mod scan;
mod serde_bulk;
pub mod sigs;
mod store;
mod verdict;
mod verdict_cache;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use cache::default_cache_dir;
pub use load::{
    is_signature_file, CacheOutcome, FileReport, LoadError, LoadOptions, LoadReport, MalformedLine,
    MALFORMED_LINES_KEPT, NORMALISATION_NOT_IMPLEMENTED, PUA_DISABLED,
};
pub use verdict::{ErrorDetail, HandlerRequest, Status, Threat, Verdict};
pub use verdict_cache::{ContentHasher, SharedVerdicts, VerdictCache, VerdictKey};

/// Where freshclam keeps ClamAV's database on Debian (and most distributions).
pub const SYSTEM_DATABASE_DIR: &str = "/var/lib/clamav";

/// The version string of [`Database::builtin`].
const BUILTIN_VERSION: &str = "builtin-1";

/// The database paths to load: `configured` when it names any, else [`SYSTEM_DATABASE_DIR`]
/// when that directory holds a ClamAV signature file, else none (the built-in EICAR signature
/// only: the caller must say so, see [`Database::is_builtin`]).
pub fn database_paths(configured: &[PathBuf]) -> Vec<PathBuf> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    system_database(std::path::Path::new(SYSTEM_DATABASE_DIR))
        .into_iter()
        .collect()
}

/// `dir` when it is a directory holding at least one ClamAV signature file.
fn system_database(dir: &std::path::Path) -> Option<PathBuf> {
    let has_one = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.path().is_file() && is_signature_file(&e.path()));
    has_one.then(|| dir.to_path_buf())
}

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
    /// Where an object's spill file is made (default: the system's temp directory); the deep
    /// scanner puts its own temp directory (`server.temp_path`) here.
    pub spill_dir: Option<PathBuf>,
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
            version: BUILTIN_VERSION.to_string(),
            sets: Vec::new(),
            c,
        }
    }

    /// Loads signature files or directories (any mix of ClamAV formats, plain or gzip'd, CVD/CLD).
    ///
    /// With [`LoadOptions::cache_dir`] set, a compiled cache built from the same sources is used
    /// instead of compiling (see `LoadOptions::cache_dir`); [`LoadReport::cache`] says what
    /// happened. Nothing is logged here: the caller logs the report, once.
    ///
    /// Refused (unless [`LoadOptions::lenient`]): a directory with no ClamAV file, a file whose
    /// lines are all malformed (with the first one's number and reason), a database that loads
    /// no signature at all — a server on such a database would scan and find nothing.
    pub fn load(
        paths: &[PathBuf],
        opts: &LoadOptions,
    ) -> Result<(Database, LoadReport), LoadError> {
        let t0 = Instant::now();
        let mut cache_note = None;
        let mut salvage = None;
        if let Some(dir) = &opts.cache_dir {
            let key = cache::Key::new(paths, &load::stamp_files(paths)?, opts);
            match cache::read(dir, &key) {
                Ok(p) => {
                    let report = LoadReport {
                        files: p.files,
                        total_time: t0.elapsed(),
                        compile_time: Default::default(),
                        matcher_bytes: matcher_bytes(&p.compiled),
                        atoms: p.atoms,
                        weak_atoms: p.compiled.weak_atoms,
                        cache: Some(CacheOutcome::Hit),
                        ..Default::default()
                    };
                    if !opts.lenient {
                        report.check()?;
                    }
                    let db = Database {
                        version: p.version,
                        sets: p.sets,
                        c: p.compiled,
                    };
                    return Ok((db, report));
                }
                Err(cache::CacheError::Absent) => {
                    cache_note = Some(CacheOutcome::Rebuilt("absent".into()))
                }
                Err(e) => {
                    cache_note = Some(CacheOutcome::Rebuilt(e.to_string()));
                    // The sources changed: the matchers of the sets that did not are in there.
                    salvage = cache::Salvage::open(dir, &key);
                }
            }
        }
        // Stamped again from the bytes actually compiled, so a file changing meanwhile cannot
        // leave a cache that claims the new version but holds the old.
        let raw = load::read_files(paths)?;
        let key = opts.cache_dir.as_ref().map(|_| {
            let stamps: Vec<_> = raw.iter().map(|f| f.stamp.clone()).collect();
            cache::Key::new(paths, &stamps, opts)
        });
        let mut b = db::Builder::new();
        let mut sets = Vec::new();
        let (files, digest) = load::load_into(raw, opts, &mut b, &mut sets)?;
        let judged = LoadReport {
            files,
            ..Default::default()
        };
        if !opts.lenient {
            judged.check()?;
        }
        let files = judged.files;
        let t1 = Instant::now();
        let mut take = |d: &[u8; 32]| salvage.as_mut().and_then(|s| s.take(d));
        let mut reuse = pool::Reuse::with_salvage(&mut take);
        let c = b.finish_with(&mut reuse)?;
        let (matchers_compiled, matchers_reused) = (reuse.compiled, reuse.reused);
        let compile_time = t1.elapsed();
        let version = format!("db-{digest}");
        let atoms = c.groups.iter().map(|g| g.atoms()).sum();
        if let (Some(dir), Some(key)) = (&opts.cache_dir, &key) {
            match cache::write(dir, key, &version, &sets, &files, atoms, &c) {
                Ok(_) => {}
                Err(e) => {
                    cache_note = Some(CacheOutcome::WriteFailed(format!("{}: {e}", dir.display())))
                }
            }
        }
        let report = LoadReport {
            files,
            total_time: t0.elapsed(),
            compile_time,
            matcher_bytes: matcher_bytes(&c),
            atoms,
            weak_atoms: c.weak_atoms,
            cache: cache_note,
            matchers_compiled,
            matchers_reused,
        };
        Ok((Database { version, sets, c }, report))
    }

    /// True for [`Database::builtin`]: the EICAR test signature only, which protects against
    /// nothing real. Servers and `bulwark scan` warn when they run on it.
    pub fn is_builtin(&self) -> bool {
        self.version == BUILTIN_VERSION
    }

    /// A short version string that changes whenever the signatures change (used in the ISTag).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Counts of the compiled structures (for benchmarks and memory investigations).
    #[doc(hidden)]
    pub fn debug_stats(&self) -> String {
        self.c.stats()
    }

    /// The names of the signature sets, in load order.
    pub fn sets(&self) -> &[String] {
        &self.sets
    }
}

fn matcher_bytes(c: &db::Compiled) -> usize {
    c.groups
        .iter()
        .flat_map(|g| &g.slices)
        .filter_map(|s| s.db.as_ref())
        .map(|d| d.size())
        .sum()
}

/// One scan of one object: feed it the bytes in order, then finish it.
#[derive(Debug)]
pub struct Scanner {
    inner: scan::Inner,
    eicar: eicar::EicarMatcher,
    /// Content digest for the verdict cache, with the options it is keyed by.
    digest: Option<Box<(ContentHasher, ScanOptions)>>,
}

impl Scanner {
    /// A scanner over `db` with `options`.
    pub fn new(db: Arc<Database>, options: &ScanOptions) -> Self {
        Self {
            inner: scan::Inner::new(db, options),
            eicar: eicar::EicarMatcher::default(),
            digest: None,
        }
    }

    /// A scanner that scans the object as type `ty` whatever its content (a `HandlerType`
    /// rescan): target 0's signatures and `ty`'s target's; no hash signatures (the object's
    /// own scan has them).
    pub fn new_as(db: Arc<Database>, options: &ScanOptions, ty: cltype::ClType) -> Self {
        let mut s = Self::new(db, options);
        s.inner.force_type(ty.target());
        s
    }

    /// A scanner that also computes the content's blake3 digest as it scans, so that
    /// [`Scanner::verdict_key`] can key a [`VerdictCache`] entry with the verdict.
    pub fn new_with_digest(db: Arc<Database>, options: &ScanOptions) -> Self {
        let mut s = Self::new(db, options);
        s.digest = Some(Box::new((ContentHasher::new(), options.clone())));
        s
    }

    /// The blake3 digest of the bytes fed so far (`None` unless made by
    /// [`Scanner::new_with_digest`]).
    pub fn content_digest(&self) -> Option<[u8; 32]> {
        self.digest.as_ref().map(|d| d.0.digest())
    }

    /// The verdict-cache key of the bytes fed so far under this scan's database and options
    /// (`None` unless made by [`Scanner::new_with_digest`]).
    pub fn verdict_key(&self) -> Option<VerdictKey> {
        let d = self.digest.as_ref()?;
        Some(VerdictKey::new(self.inner.database(), &d.1, &d.0.digest()))
    }

    /// Tells the scanner which containers the object was found in, outermost first (e.g. a
    /// file in a zip attached to a mail: `[Mail, Zip]`); a root object has none. Logical
    /// signatures with `Container:`/`Intermediates:` conditions match only where they hold.
    pub fn set_ancestry(&mut self, ancestry: Vec<cltype::ClType>) {
        self.inner.set_ancestry(ancestry);
    }

    /// Tells the scanner the object's total size in advance (e.g. Content-Length), so that hash
    /// signatures are only computed when the size can match.
    pub fn set_size_hint(&mut self, size: u64) {
        self.inner.set_size_hint(size);
    }

    /// Feeds the next bytes of the object.
    pub fn feed(&mut self, data: &[u8]) {
        if let Some(d) = &mut self.digest {
            d.0.update(data);
        }
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

    /// Ends the scan and returns the verdict (matched `HandlerType` signatures included, after
    /// the others: nothing here rescans the object as their type).
    pub fn finish(self) -> Verdict {
        let e = self.eicar.found();
        self.inner.finish(e)
    }

    /// Ends the scan: the verdict without matched `HandlerType` signatures, and what they ask
    /// (ClamAV scans the object again as their type, then reports them; the deep scanner does
    /// the same).
    pub fn finish_with_handler(self) -> (Verdict, Option<HandlerRequest>) {
        let e = self.eicar.found();
        self.inner.finish_with_handler(e)
    }
}

#[cfg(test)]
mod tests;
