//! Loading signature files: a directory (or list of files) in any mix of ClamAV formats, plain or
//! gzip'd, and `.cvd`/`.cld` containers; per-file report of what loaded and what did not, by reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::db::Builder;
use crate::sigs::hash::{self, Layout};
use crate::sigs::logical;
use crate::sigs::LineError;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Set name per file stem (e.g. `"daily" -> "daily"`); files not listed use their stem.
    pub set_names: HashMap<String, String>,
    /// Load PUA databases (`.hdu .hsu .ndu .ldu .mdu .msu`).
    pub pua: bool,
    /// Directory of the compiled-database cache (see [`crate::default_cache_dir`]). `None` (the
    /// default) compiles every time. With a directory, a load whose sources (paths, sizes,
    /// mtimes, content digests), options, engine format, Vectorscan version and CPU features
    /// match a cache file there loads from it; otherwise it compiles and atomically replaces the
    /// cache file. Unreadable, corrupt or foreign cache files are logged and rebuilt.
    pub cache_dir: Option<PathBuf>,
    /// Report unusable files instead of failing (for `bulwark db info`, which prints the report
    /// and then judges it with [`LoadReport::check`]). A server never sets it: a database with
    /// no usable signature, or with a file that loads nothing, must be refused.
    pub lenient: bool,
}

/// A loading failure (I/O or a broken container); signature-level problems are only counted.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A container is malformed.
    #[error("{path}: {reason}")]
    Container {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The atom matcher failed to compile.
    #[error("compiling the matcher: {0}")]
    Matcher(#[from] crate::matcher::MatchError),
    /// More than 64 signature sets.
    #[error("more than 64 signature sets")]
    TooManySets,
    /// A directory holds no ClamAV signature file.
    #[error("{dir}: no ClamAV signature file in this directory (.cvd, .cld, .hdb, .ndb, .ldb…)")]
    NoSignatureFiles {
        /// The directory.
        dir: String,
    },
    /// A signature file holds lines but loads none of them (wholly malformed, binary, not a
    /// ClamAV file).
    #[error("{path}: no signature of this file could be used ({malformed} malformed line(s); first: {first})")]
    UnusableFile {
        /// The file (for container members: `container/member`).
        path: String,
        /// How many lines were malformed.
        malformed: u64,
        /// The first malformed line and why, e.g. `line 3: bad hex in hash`.
        first: String,
    },
    /// The database as a whole loads no signature.
    #[error("the database loads no signature ({files} file(s) read): scanning would find nothing")]
    NoSignatures {
        /// Signature files read.
        files: usize,
    },
}

/// One malformed line: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MalformedLine {
    /// 1-based line number in the file (for container members, in the member).
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

impl std::fmt::Display for MalformedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The reason given for lines of a PUA database loaded without [`LoadOptions::pua`].
pub const PUA_DISABLED: &str = "PUA database (disabled)";

/// Malformed lines kept per file, with their numbers (the counts by reason are complete).
pub const MALFORMED_LINES_KEPT: usize = 20;

/// What happened to one signature file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileReport {
    /// Path (for container members: `container/member`).
    pub path: String,
    /// The signature set it belongs to.
    pub set: String,
    /// Signatures loaded (including the approximated ones below).
    pub loaded: u64,
    /// Loaded signatures matched with different semantics than ClamAV's, by reason (a subset
    /// of `loaded`), e.g. [`NORMALISATION_NOT_IMPLEMENTED`].
    #[serde(default)]
    pub approximated: BTreeMap<String, u64>,
    /// Signatures not loaded, by reason.
    pub unsupported: BTreeMap<String, u64>,
    /// Malformed lines, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// The first [`MALFORMED_LINES_KEPT`] malformed lines, with their line numbers.
    #[serde(default)]
    pub malformed_lines: Vec<MalformedLine>,
    /// Skipped because their functionality level excludes this engine (ClamAV skips them too).
    pub flevel_skipped: u64,
    /// Dropped by an `.ign2` ignore list.
    pub ignored: u64,
    /// Parse time.
    pub time: Duration,
}

impl FileReport {
    /// True when the file holds signature lines but none of them loads because they are
    /// malformed (a random-bytes `daily.hdb`, a file of another format under a ClamAV name).
    /// Lines skipped on purpose (functionality level, PUA off, `.ign2`) do not count.
    pub fn unusable(&self) -> bool {
        self.loaded == 0 && !self.malformed.is_empty()
    }

    /// True when the file has signature lines and loads none of them for a reason other than
    /// a deliberate skip (functionality level, `.ign2`, PUA off): malformed or unsupported.
    pub fn loads_nothing(&self) -> bool {
        let skipped = self.flevel_skipped
            + self.ignored
            + self.unsupported.get(PUA_DISABLED).copied().unwrap_or(0);
        self.loaded == 0 && self.total() > skipped
    }

    /// Signatures in the file that are not comments or blank.
    pub fn total(&self) -> u64 {
        self.loaded
            + self.unsupported.values().sum::<u64>()
            + self.malformed.values().sum::<u64>()
            + self.flevel_skipped
            + self.ignored
    }
}

/// The report of a load.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// One entry per signature file.
    pub files: Vec<FileReport>,
    /// Total load time (reading, parsing, compiling).
    pub total_time: Duration,
    /// Time spent compiling the atom matchers.
    pub compile_time: Duration,
    /// Bytes used by compiled atom matchers.
    pub matcher_bytes: usize,
    /// Number of distinct atoms over all target groups.
    pub atoms: usize,
    /// Atoms shorter than 4 bytes (more false hits).
    pub weak_atoms: u64,
    /// What the compiled cache did: `None` when no cache directory was given.
    pub cache: Option<CacheOutcome>,
    /// Atom matchers compiled (one per signature set and target type; none when the whole
    /// database came from the cache).
    pub matchers_compiled: usize,
    /// Atom matchers whose signature sets did not change, taken from the database in memory
    /// or from the cache file of the previous version instead of compiled.
    pub matchers_reused: usize,
}

/// What the compiled signature cache did during a load ([`LoadOptions::cache_dir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The cache matched the sources and was used instead of compiling.
    Hit,
    /// The database was compiled and the cache (re)written; the reason it was not used
    /// (`absent`, `stale: sources changed`, `corrupt: …`).
    Rebuilt(String),
    /// The database was compiled but the cache could not be written (the reason): the next
    /// load compiles again.
    WriteFailed(String),
}

impl CacheOutcome {
    /// True when the outcome deserves a warning (the cache cannot be written).
    pub fn is_failure(&self) -> bool {
        matches!(self, CacheOutcome::WriteFailed(_))
    }
}

impl std::fmt::Display for CacheOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheOutcome::Hit => f.write_str("hit"),
            CacheOutcome::Rebuilt(why) => write!(f, "rebuilt ({why})"),
            CacheOutcome::WriteFailed(why) => write!(f, "write failed: {why}"),
        }
    }
}

impl LoadReport {
    /// Judges the load as a server must: an error when a file holds lines of which none loads
    /// ([`LoadError::UnusableFile`]), or when the whole database loads no signature
    /// ([`LoadError::NoSignatures`]).
    pub fn check(&self) -> Result<(), LoadError> {
        if let Some(f) = self.files.iter().find(|f| f.unusable()) {
            return Err(LoadError::UnusableFile {
                path: f.path.clone(),
                malformed: f.malformed.values().sum(),
                first: f
                    .malformed_lines
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            });
        }
        if self.files.iter().map(|f| f.loaded).sum::<u64>() == 0 {
            return Err(LoadError::NoSignatures {
                files: self.files.len(),
            });
        }
        Ok(())
    }
}

/// Known extensions.
fn kind_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?;
    Some(match ext {
        "hdb" | "hsb" | "hdu" | "hsu" | "mdb" | "msb" | "mdu" | "msu" | "imp" | "fp" | "sfp"
        | "ndb" | "ndu" | "ldb" | "ldu" | "ign" | "ign2" | "cvd" | "cld" | "cud" => match ext {
            "hdb" => "hdb",
            "hsb" => "hsb",
            "hdu" => "hdu",
            "hsu" => "hsu",
            "mdb" => "mdb",
            "msb" => "msb",
            "mdu" => "mdu",
            "msu" => "msu",
            "imp" => "imp",
            "fp" => "fp",
            "sfp" => "sfp",
            "ndb" => "ndb",
            "ndu" => "ndu",
            "ldb" => "ldb",
            "ldu" => "ldu",
            "ign" => "ign",
            "ign2" => "ign2",
            "cvd" => "cvd",
            "cld" => "cld",
            _ => "cud",
        },
        _ => return None,
    })
}

struct Source {
    path: String,
    name: String,
    set: String,
    data: Vec<u8>,
}

fn gunzip(path: &str, data: &[u8]) -> Result<Vec<u8>, LoadError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| LoadError::Container {
            path: path.into(),
            reason: format!("gzip: {e}"),
        })?;
    Ok(out)
}

/// Expands a `.cvd`/`.cld`/`.cud`: 512-byte header, then a tar (gzip'd unless it starts with
/// `COPYING`).
fn expand_cvd(path: &str, set: &str, data: &[u8], out: &mut Vec<Source>) -> Result<(), LoadError> {
    let bad = |r: &str| LoadError::Container {
        path: path.into(),
        reason: r.into(),
    };
    if data.len() < 512 || !data.starts_with(b"ClamAV-VDB:") {
        return Err(bad("not a CVD (missing ClamAV-VDB header)"));
    }
    let body = &data[512..];
    let tar_bytes = if body.starts_with(b"COPYING") {
        body.to_vec()
    } else {
        gunzip(path, body)?
    };
    let mut ar = tar::Archive::new(tar_bytes.as_slice());
    let entries = ar.entries().map_err(|e| bad(&format!("tar: {e}")))?;
    for e in entries {
        let mut e = e.map_err(|e| bad(&format!("tar: {e}")))?;
        let name = e
            .path()
            .map_err(|e| bad(&format!("tar: {e}")))?
            .to_string_lossy()
            .into_owned();
        if kind_of(&name).is_none() {
            continue;
        }
        let mut d = Vec::new();
        e.read_to_end(&mut d)
            .map_err(|e| bad(&format!("tar: {e}")))?;
        out.push(Source {
            path: format!("{path}/{name}"),
            name,
            set: set.to_string(),
            data: d,
        });
    }
    Ok(())
}

fn stem(name: &str) -> String {
    name.split('.').next().unwrap_or(name).to_string()
}

/// One signature file as read from disk (before gunzip/CVD expansion), with its stamp.
pub(crate) struct RawFile {
    pub path: PathBuf,
    pub data: Vec<u8>,
    pub stamp: Stamp,
}

/// What identifies a source file's version for the compiled cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stamp {
    pub path: String,
    pub size: u64,
    pub mtime: (u64, u32),
    pub digest: [u8; 32],
}

/// Lists the signature files under `paths` (directories are not recursed).
fn list_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| LoadError::Io {
                path: p.display().to_string(),
                source: e,
            })?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_signature_file(p))
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(LoadError::NoSignatureFiles {
                    dir: p.display().to_string(),
                });
            }
            files.extend(v);
        } else if is_signature_file(p) {
            files.push(p.clone());
        } else if !p.exists() {
            // A mistyped database path must not leave the server on the built-in EICAR only.
            return Err(LoadError::Io {
                path: p.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        } else {
            return Err(LoadError::Container {
                path: p.display().to_string(),
                reason: "not a ClamAV database file (.cvd, .cld, .cud, .hdb, .hsb, .mdb, .msb, \
                         .ndb, .ldb, .fp, .sfp, .ign2…, optionally gzip'd) nor a directory of them"
                    .into(),
            });
        }
    }
    Ok(files)
}

/// Stamps `f`: from `data` when given (the bytes that will be compiled), else by streaming the
/// file through the hash without keeping it.
fn stamp(f: &Path, data: Option<&[u8]>) -> Result<Stamp, LoadError> {
    let io = |e| LoadError::Io {
        path: f.display().to_string(),
        source: e,
    };
    let meta = std::fs::metadata(f).map_err(io)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
    let (size, digest) = match data {
        Some(d) => (d.len() as u64, *blake3::hash(d).as_bytes()),
        None => {
            let mut h = blake3::Hasher::new();
            let file = std::fs::File::open(f).map_err(io)?;
            h.update_reader(file).map_err(io)?;
            (h.count(), *h.finalize().as_bytes())
        }
    };
    Ok(Stamp {
        path: std::fs::canonicalize(f)
            .unwrap_or_else(|_| f.to_path_buf())
            .display()
            .to_string(),
        size,
        mtime,
        digest,
    })
}

/// Stamps the signature files under `paths` without keeping their contents.
pub(crate) fn stamp_files(paths: &[PathBuf]) -> Result<Vec<Stamp>, LoadError> {
    list_files(paths)?.iter().map(|f| stamp(f, None)).collect()
}

/// Reads the signature files under `paths`, stamping the bytes read.
pub(crate) fn read_files(paths: &[PathBuf]) -> Result<Vec<RawFile>, LoadError> {
    let mut out = Vec::new();
    for f in list_files(paths)? {
        let data = std::fs::read(&f).map_err(|e| LoadError::Io {
            path: f.display().to_string(),
            source: e,
        })?;
        let stamp = stamp(&f, Some(&data))?;
        out.push(RawFile {
            path: f,
            data,
            stamp,
        });
    }
    Ok(out)
}

/// Decompresses and expands containers.
fn expand(raw: Vec<RawFile>, opts: &LoadOptions) -> Result<Vec<Source>, LoadError> {
    let mut out = Vec::new();
    for f in raw {
        let fname = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (inner, gz) = match fname.strip_suffix(".gz") {
            Some(i) => (i.to_string(), true),
            None => (fname.clone(), false),
        };
        let Some(kind) = kind_of(&inner) else {
            continue;
        };
        let path = f.path.display().to_string();
        let data = if gz { gunzip(&path, &f.data)? } else { f.data };
        let st = stem(&inner);
        let set = opts.set_names.get(&st).cloned().unwrap_or(st);
        if matches!(kind, "cvd" | "cld" | "cud") {
            expand_cvd(&path, &set, &data, &mut out)?;
        } else {
            out.push(Source {
                path,
                name: inner,
                set,
                data,
            });
        }
    }
    Ok(out)
}

/// No longer reported (targets 3 and 7 are matched on ClamAV's normalised views, see
/// [`crate::normalise`]); kept for compatibility.
pub const NORMALISATION_NOT_IMPLEMENTED: &str =
    "target 3/7 normalisation not implemented: matched on raw bytes";

/// Adds a body signature (reported as approximated when [`crate::normalise::approximation`]
/// says so).
fn add_body_sig(b: &mut Builder, ls: logical::LogicalSig, set_id: u16) -> Result<(), LineError> {
    let vi = ls.subs.iter().any(|s| match s {
        logical::Sub::Body(b) => b.offset.base == crate::sigs::offset::Base::VersionInfo,
        logical::Sub::Pcre(p) => p.offset.base == crate::sigs::offset::Base::VersionInfo,
    });
    if vi && ls.tdb.target != crate::filetype::Target::Pe {
        // ClamAV refuses the database ("Invalid offset type for target").
        return Err(LineError::Malformed("VI offset outside target 1 (PE)"));
    }
    let approx = crate::normalise::approximation(&ls).or_else(|| {
        ls.tdb.handler.filter(|t| !t.handled()).map(|_| {
            "HandlerType naming a type without an opener or a signature target: the \
                 object is not rescanned as that type (the signature itself still reports)"
        })
    });
    b.add_logical(ls, set_id)?;
    match approx {
        Some(why) => Err(LineError::Approximated(why)),
        None => Ok(()),
    }
}

fn reason(r: &mut FileReport, line: u64, e: LineError) {
    if let LineError::Malformed(why) = &e {
        if r.malformed_lines.len() < MALFORMED_LINES_KEPT {
            r.malformed_lines.push(MalformedLine {
                line,
                reason: (*why).to_string(),
            });
        }
    }
    match e {
        LineError::Approximated(s) => {
            r.loaded += 1;
            *r.approximated.entry(s.to_string()).or_default() += 1;
        }
        LineError::Unsupported(s) => *r.unsupported.entry(s.to_string()).or_default() += 1,
        LineError::Malformed(s) => *r.malformed.entry(s.to_string()).or_default() += 1,
        LineError::Flevel => r.flevel_skipped += 1,
    }
}

/// Why a line that is not text is rejected.
const NOT_TEXT: &str = "not text (binary data; is this a ClamAV signature file?)";

/// The signature lines of a file with their 1-based numbers (blank lines and `#` comments
/// skipped); a line that is not UTF-8 is `Err` (counted as malformed, never skipped silently).
fn lines(data: &[u8]) -> impl Iterator<Item = (u64, Result<&str, LineError>)> {
    data.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, l)| {
            let n = i as u64 + 1;
            match std::str::from_utf8(l) {
                Ok(l) => {
                    let l = l.trim_end_matches('\r');
                    (!l.trim().is_empty() && !l.starts_with('#')).then_some((n, Ok(l)))
                }
                Err(_) => Some((n, Err(LineError::Malformed(NOT_TEXT)))),
            }
        })
}

/// Loads signature files into a builder; returns the report and the content digest.
pub(crate) fn load_into(
    raw: Vec<RawFile>,
    opts: &LoadOptions,
    b: &mut Builder,
    sets: &mut Vec<String>,
) -> Result<(Vec<FileReport>, String), LoadError> {
    let sources = expand(raw, opts)?;
    let mut digest = Sha256::new();
    let mut ignored: HashSet<String> = HashSet::new();
    for s in &sources {
        if matches!(kind_of(&s.name), Some("ign" | "ign2")) {
            for (_, l) in lines(&s.data) {
                let Ok(l) = l else { continue };
                ignored.insert(l.split(':').next().unwrap_or(l).to_string());
            }
        }
    }
    let mut reports = Vec::new();
    for s in sources {
        let t0 = Instant::now();
        let kind = kind_of(&s.name).unwrap_or("");
        digest.update(s.name.as_bytes());
        digest.update(s.set.as_bytes());
        digest.update(&s.data);
        let set_id = match sets.iter().position(|x| *x == s.set) {
            Some(i) => i,
            None => {
                sets.push(s.set.clone());
                sets.len() - 1
            }
        };
        if set_id >= 64 {
            return Err(LoadError::TooManySets);
        }
        let set_id = set_id as u16;
        let mut r = FileReport {
            path: s.path.clone(),
            set: s.set.clone(),
            ..Default::default()
        };
        let pua = matches!(kind, "hdu" | "hsu" | "ndu" | "ldu" | "mdu" | "msu");
        for (line_no, l) in lines(&s.data) {
            let l = match l {
                Ok(l) => l,
                Err(e) => {
                    reason(&mut r, line_no, e);
                    continue;
                }
            };
            if pua && !opts.pua {
                *r.unsupported.entry(PUA_DISABLED.into()).or_default() += 1;
                continue;
            }
            let name_of = |l: &str| -> String {
                match kind {
                    "ldb" | "ldu" => l.split(';').next().unwrap_or("").to_string(),
                    "ndb" | "ndu" => l.split(':').next().unwrap_or("").to_string(),
                    _ => l.split(':').nth(2).unwrap_or("").to_string(),
                }
            };
            if !ignored.is_empty() && ignored.contains(&name_of(l)) {
                r.ignored += 1;
                continue;
            }
            let res = match kind {
                "hdb" | "hsb" | "hdu" | "hsu" => {
                    hash::parse(l, Layout::HashFirst).map(|h| b.c.hashes.insert(h, set_id))
                }
                "fp" | "sfp" => hash::parse(l, Layout::HashFirst).map(|h| b.c.fp.insert(h, set_id)),
                "mdb" | "msb" | "mdu" | "msu" => {
                    hash::parse(l, Layout::SizeFirst).map(|h| b.c.sections.insert(h, set_id))
                }
                "imp" => hash::parse(l, Layout::HashFirst).map(|h| b.c.imports.insert(h, set_id)),
                "ndb" | "ndu" => logical::parse_ndb(l).and_then(|ls| add_body_sig(b, ls, set_id)),
                "ldb" | "ldu" => logical::parse_ldb(l).and_then(|ls| add_body_sig(b, ls, set_id)),
                "ign" | "ign2" => continue,
                _ => continue,
            };
            match res {
                Ok(()) => r.loaded += 1,
                Err(LineError::Approximated(why)) => {
                    r.loaded += 1;
                    *r.approximated.entry(why.to_string()).or_default() += 1;
                }
                Err(e) => reason(&mut r, line_no, e),
            }
        }
        r.time = t0.elapsed();
        tracing::debug!(file = %r.path, loaded = r.loaded, "signature file loaded");
        reports.push(r);
    }
    let d = digest.finalize();
    let hex: String = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok((reports, hex))
}

/// True when `p` looks like a signature file this loader reads.
pub fn is_signature_file(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    kind_of(n.strip_suffix(".gz").unwrap_or(&n)).is_some()
}
