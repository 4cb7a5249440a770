//! The compiled-database cache: one file per (source set, load options) in a cache directory,
//! holding everything [`crate::Database::load`] builds, so a restart or a `bulwark scan` loads
//! in a fraction of a second instead of recompiling the Vectorscan databases.
//!
//! Layout: `MAGIC`, header length (u32 LE), header (postcard), payload (postcard), then the
//! serialised Vectorscan databases back to back. The header says what the cache was built from
//! (engine format, crate version, Vectorscan version and CPU features, an options digest, and
//! path/size/mtime/blake3 of every source file) plus the payload's length, the blob lengths and
//! a blake3 digest of payload and blobs. A cache is used only when every one of those matches and the payload and
//! blobs deserialise and pass the index checks in [`Compiled::validate`]; anything else is logged
//! and the database is rebuilt and the file atomically replaced (temp file + rename).
//!
//! Trust: the digests catch corruption, not forgery. Whoever can write the cache directory can
//! change detections, exactly like whoever can write the signature directory; keep it owned by
//! the service user (e.g. `/var/cache/bulwark`, mode 0750).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::Compiled;
use crate::load::{FileReport, LoadOptions, Stamp};
use crate::matcher::AtomDb;

/// Bumped whenever the layout of the cache or of any serialised type changes.
pub(crate) const FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"BWENGDB\x01";

/// Why a cache file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("absent")]
    Absent,
    #[error("unreadable: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("stale: {0}")]
    Stale(&'static str),
}

fn corrupt(s: impl Into<String>) -> CacheError {
    CacheError::Corrupt(s.into())
}

/// What a cache must have been built from to be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    format: u32,
    engine: String,
    matcher: String,
    options: [u8; 32],
    sources: Vec<Stamp>,
}

impl Key {
    pub fn new(sources: &[Stamp], opts: &LoadOptions) -> Self {
        let mut h = blake3::Hasher::new();
        let mut names: Vec<_> = opts.set_names.iter().collect();
        names.sort();
        for (k, v) in names {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        h.update(&[u8::from(opts.pua)]);
        Key {
            format: FORMAT,
            engine: env!("CARGO_PKG_VERSION").to_string(),
            matcher: crate::matcher::fingerprint(),
            options: *h.finalize().as_bytes(),
            sources: sources.to_vec(),
        }
    }

    /// The cache file for this source set and options (not versions: a new version of the same
    /// files replaces the old cache file instead of accumulating next to it).
    pub fn file(&self, dir: &Path) -> PathBuf {
        let mut h = blake3::Hasher::new();
        for s in &self.sources {
            h.update(s.path.as_bytes());
            h.update(&[0]);
        }
        h.update(&self.options);
        let hex: String = h.finalize().as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        dir.join(format!("bulwark-engine-{hex}.db"))
    }

    fn why_stale(&self, other: &Key) -> &'static str {
        if self.format != other.format || self.engine != other.engine {
            "engine format changed"
        } else if self.matcher != other.matcher {
            "Vectorscan version or CPU features changed"
        } else if self.options != other.options {
            "load options changed"
        } else {
            "signature files changed"
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    key: Key,
    payload_len: u64,
    /// blake3 of everything after the header (payload and matcher databases).
    body_digest: [u8; 32],
    /// Per group: the length of its serialised Vectorscan database, `None` without one.
    blobs: Vec<Option<u64>>,
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    version: &'a str,
    sets: &'a [String],
    files: &'a [FileReport],
    atoms: usize,
    compiled: &'a Compiled,
}

/// A database read back from the cache.
#[derive(Deserialize)]
pub(crate) struct Payload {
    pub version: String,
    pub sets: Vec<String>,
    pub files: Vec<FileReport>,
    pub atoms: usize,
    pub compiled: Compiled,
}

/// Reads and checks the cache file for `key`.
pub(crate) fn read(dir: &Path, key: &Key) -> Result<Payload, CacheError> {
    let path = key.file(dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheError::Absent),
        Err(e) => return Err(e.into()),
    };
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("bad magic"))?;
    let (hlen, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("truncated header"))?;
    let hlen = u32::from_le_bytes(*hlen) as usize;
    let hbytes = rest
        .get(..hlen)
        .ok_or_else(|| corrupt("truncated header"))?;
    let header: Header =
        postcard::from_bytes(hbytes).map_err(|e| corrupt(format!("header: {e}")))?;
    if header.key != *key {
        return Err(CacheError::Stale(key.why_stale(&header.key)));
    }
    let rest = &rest[hlen..];
    if blake3::hash(rest).as_bytes() != &header.body_digest {
        return Err(corrupt("digest mismatch"));
    }
    let plen = usize::try_from(header.payload_len).map_err(|_| corrupt("payload length"))?;
    let payload = rest
        .get(..plen)
        .ok_or_else(|| corrupt("truncated payload"))?;
    let mut p: Payload =
        postcard::from_bytes(payload).map_err(|e| corrupt(format!("payload: {e}")))?;
    if header.blobs.len() != p.compiled.groups.len() {
        return Err(corrupt("group count mismatch"));
    }
    let mut at = plen;
    for (g, len) in p.compiled.groups.iter_mut().zip(&header.blobs) {
        let Some(len) = len else { continue };
        let len = usize::try_from(*len).map_err(|_| corrupt("blob length"))?;
        let blob = at
            .checked_add(len)
            .and_then(|end| rest.get(at..end))
            .ok_or_else(|| corrupt("truncated matcher database"))?;
        at += len;
        let db = AtomDb::deserialize(blob).map_err(|e| corrupt(e.to_string()))?;
        g.db = Some(Arc::new(db));
    }
    if at != rest.len() {
        return Err(corrupt("trailing bytes"));
    }
    p.compiled
        .validate(p.sets.len())
        .map_err(|e| corrupt(format!("inconsistent database: {e}")))?;
    Ok(p)
}

/// Writes the cache file for `key` atomically (temp file in `dir`, fsync, rename).
pub(crate) fn write(
    dir: &Path,
    key: &Key,
    version: &str,
    sets: &[String],
    files: &[FileReport],
    atoms: usize,
    compiled: &Compiled,
) -> Result<PathBuf, CacheError> {
    let payload = postcard::to_allocvec(&PayloadRef {
        version,
        sets,
        files,
        atoms,
        compiled,
    })
    .map_err(|e| corrupt(format!("serialising: {e}")))?;
    let mut blobs = Vec::new();
    let mut lens = Vec::new();
    for g in &compiled.groups {
        match &g.db {
            Some(db) => {
                let b = db.serialize().map_err(|e| corrupt(e.to_string()))?;
                lens.push(Some(b.len() as u64));
                blobs.push(b);
            }
            None => lens.push(None),
        }
    }
    let mut digest = blake3::Hasher::new();
    digest.update(&payload);
    for b in &blobs {
        digest.update(b);
    }
    let header = postcard::to_allocvec(&Header {
        key: key.clone(),
        payload_len: payload.len() as u64,
        body_digest: *digest.finalize().as_bytes(),
        blobs: lens,
    })
    .map_err(|e| corrupt(format!("serialising: {e}")))?;
    let hlen = u32::try_from(header.len()).map_err(|_| corrupt("header too large"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".bulwark-engine-")
        .tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        w.write_all(MAGIC)?;
        w.write_all(&hlen.to_le_bytes())?;
        w.write_all(&header)?;
        w.write_all(&payload)?;
        for b in &blobs {
            w.write_all(b)?;
        }
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    let path = key.file(dir);
    tmp.persist(&path).map_err(|e| CacheError::Io(e.error))?;
    Ok(path)
}

/// The cache directory `bulwark scan`, `bulwark db info` and the server use unless configured:
/// `/var/cache/bulwark` when it exists or can be created and is writable, else
/// `$XDG_CACHE_HOME/bulwark` or `$HOME/.cache/bulwark`; `None` when none of these is usable.
pub fn default_cache_dir() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/var/cache/bulwark")];
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        candidates.push(PathBuf::from(x).join("bulwark"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        candidates.push(PathBuf::from(h).join(".cache").join("bulwark"));
    }
    candidates.into_iter().find(|d| writable_dir(d))
}

fn writable_dir(d: &Path) -> bool {
    std::fs::create_dir_all(d).is_ok()
        && tempfile::Builder::new()
            .prefix(".bulwark-probe-")
            .tempfile_in(d)
            .is_ok()
}
