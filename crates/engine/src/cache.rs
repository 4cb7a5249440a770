//! The compiled-database cache: one file per (configured paths, load options) in a cache
//! directory, holding everything [`crate::Database::load`] builds, so a restart or a
//! `bulwark scan` loads in a fraction of a second instead of recompiling the Vectorscan
//! databases.
//!
//! Layout: `MAGIC`, format (u32 LE), header length (u32 LE), header (postcard), payload (postcard), then the
//! serialised Vectorscan databases back to back. The header says what the cache was built from
//! (engine format, crate version, Vectorscan version and CPU features, an options digest, and
//! path/size/mtime/blake3 of every source file) plus the length and blake3 digest of the payload
//! and of each matcher database. A cache is used only when every one of those matches and the payload and
//! blobs deserialise and pass the index checks in [`Compiled::validate`]; anything else is logged
//! and the database is rebuilt and the file atomically replaced (temp file + rename).
//!
//! Trust: the digests catch corruption, not forgery. Whoever can write the cache directory can
//! change detections, exactly like whoever can write the signature directory; keep it owned by
//! the service user (e.g. `/var/cache/bulwark`, mode 0750).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::Compiled;
use crate::load::{FileReport, LoadOptions, Stamp};
use crate::matcher::AtomDb;

/// Bumped whenever the layout of the cache or of any serialised type changes, or what a load
/// reports (13: target 3 signatures no longer reported approximated once the JavaScript view is
/// scanned; 14: a HandlerType naming CL_TYPE_GRAPHICS is honoured in full; 15: one matcher per
/// signature set in each group; 16: the file named by the load's paths, not its files; 17: body
/// parts and elements in two database-wide arrays; 18: logical signatures' names, target
/// descriptions and expressions kept apart, the last two each once).
pub(crate) const FORMAT: u32 = 18;
const MAGIC: &[u8; 8] = b"BWENGDB\x00";

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
    /// The paths the load was given (directories, usually): they name the cache file.
    origin: Vec<String>,
    sources: Vec<Stamp>,
}

impl Key {
    pub fn new(origin: &[PathBuf], sources: &[Stamp], opts: &LoadOptions) -> Self {
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
            origin: origin.iter().map(|p| p.display().to_string()).collect(),
            sources: sources.to_vec(),
        }
    }

    /// The cache file for the paths the load was given and its options (not for the files in
    /// them: a new version of the files, or a set of files that changed — `daily.cvd` replaced
    /// by `daily.cld`, a third-party file added — replaces the old cache file instead of
    /// accumulating next to it, and the rebuild takes the matchers that did not change from it).
    pub fn file(&self, dir: &Path) -> PathBuf {
        let mut h = blake3::Hasher::new();
        for o in &self.origin {
            h.update(o.as_bytes());
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
    /// blake3 of the payload.
    payload_digest: [u8; 32],
    /// Per group, per slice in order: its serialised Vectorscan database.
    blobs: Vec<Blob>,
}

/// One serialised matcher database after the payload.
#[derive(Debug, Serialize, Deserialize)]
struct Blob {
    /// Length in bytes.
    len: u64,
    /// blake3 of those bytes.
    digest: [u8; 32],
    /// The slice's atom digest ([`crate::pool::digest`]): lets a later build of other sources
    /// take this matcher from the file instead of compiling it ([`Salvage`]).
    atoms: [u8; 32],
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

/// A reader that feeds everything it reads into a hash (wrapped in a `BufReader`, so the hash
/// sees large chunks).
struct HashRead<R> {
    inner: R,
    hash: blake3::Hasher,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Scratch buffer for strings and byte chunks while streaming the payload (no serialised string
/// or byte chunk is longer: see `crate::serde_bulk::big_bytes` and `LitBytes`).
pub(crate) const SCRATCH: usize = 1 << 20;

/// Largest header accepted.
const MAX_HEADER: u32 = 64 << 20;
/// Largest matcher database accepted.
const MAX_BLOB: u64 = 1 << 32;

/// Reads and checks the fixed start and the header of a cache file; also returns the header's
/// length (the payload follows it).
fn read_header(f: &mut std::fs::File) -> Result<(Header, u32), CacheError> {
    let trunc = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            corrupt("truncated")
        } else {
            CacheError::Io(e)
        }
    };
    let mut fixed = [0u8; 16];
    f.read_exact(&mut fixed).map_err(trunc)?;
    if &fixed[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if fixed[8..12] != FORMAT.to_le_bytes() {
        return Err(CacheError::Stale("engine format changed"));
    }
    let hlen = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
    if hlen > MAX_HEADER {
        return Err(corrupt("header too large"));
    }
    let mut hbytes = vec![0u8; hlen as usize];
    f.read_exact(&mut hbytes).map_err(trunc)?;
    let header = postcard::from_bytes(&hbytes).map_err(|e| corrupt(format!("header: {e}")))?;
    Ok((header, hlen))
}

/// Reads and checks the cache file for `key`.
///
/// The body is deserialised while streaming from the file (no copy of the whole file in
/// memory); its digest is checked before anything is returned and before the Vectorscan
/// databases (C code) see a byte of it.
pub(crate) fn read(dir: &Path, key: &Key) -> Result<Payload, CacheError> {
    let path = key.file(dir);
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheError::Absent),
        Err(e) => return Err(e.into()),
    };
    let (header, _) = read_header(&mut f)?;
    if header.key != *key {
        return Err(CacheError::Stale(key.why_stale(&header.key)));
    }
    // BufReader over Take (not the reverse): postcard pops bytes one at a time, and
    // BufReader::read_exact is the fast path for that.
    let mut pr = std::io::BufReader::with_capacity(
        1 << 16,
        HashRead {
            inner: f,
            hash: blake3::Hasher::new(),
        }
        .take(header.payload_len),
    );
    let mut scratch = vec![0u8; SCRATCH];
    let mut p: Payload = {
        let (p, _) = postcard::from_io((&mut pr, scratch.as_mut_slice()))
            .map_err(|e| corrupt(format!("payload: {e}")))?;
        p
    };
    if !pr.buffer().is_empty() || pr.get_ref().limit() != 0 {
        return Err(corrupt("payload length"));
    }
    let hr = pr.into_inner().into_inner();
    if hr.hash.finalize().as_bytes() != &header.payload_digest {
        return Err(corrupt("payload digest mismatch"));
    }
    let n: usize = p.compiled.groups.iter().map(|g| g.slices.len()).sum();
    if header.blobs.len() != n {
        return Err(corrupt("matcher count mismatch"));
    }
    // One matcher database at a time: read, check its digest, hand it to Vectorscan, drop it.
    let mut f = hr.inner;
    let slices = p
        .compiled
        .groups
        .iter_mut()
        .flat_map(|g| g.slices.iter_mut());
    for (slice, blob) in slices.zip(&header.blobs) {
        if blob.atoms != slice.digest {
            return Err(corrupt("matcher digest mismatch"));
        }
        let db = read_blob(&mut f, blob)?;
        let db = Arc::new(db);
        crate::pool::register(slice.digest, &db);
        slice.db = Some(db);
    }
    let mut extra = [0u8; 1];
    if f.read(&mut extra)? != 0 {
        return Err(corrupt("trailing bytes"));
    }
    p.compiled
        .validate(p.sets.len())
        .map_err(|e| corrupt(format!("inconsistent database: {e}")))?;
    Ok(p)
}

/// Reads the next matcher database of a cache file and checks it against `blob`.
fn read_blob(f: &mut impl Read, blob: &Blob) -> Result<AtomDb, CacheError> {
    if blob.len > MAX_BLOB {
        return Err(corrupt("blob length"));
    }
    // The length comes from the header, which no digest covers: reserve at most 64 MiB up
    // front (a damaged length must not allocate gigabytes); the read grows it if needed.
    let mut b = Vec::with_capacity(usize::try_from(blob.len.min(64 << 20)).unwrap_or(0));
    f.take(blob.len).read_to_end(&mut b)?;
    if b.len() as u64 != blob.len {
        return Err(corrupt("truncated matcher database"));
    }
    if blake3::hash(&b).as_bytes() != &blob.digest {
        return Err(corrupt("matcher database digest mismatch"));
    }
    AtomDb::deserialize(&b).map_err(|e| corrupt(e.to_string()))
}

/// The matchers of a cache file that no longer matches its sources (a signature set changed),
/// by atom digest: a rebuild reads the ones whose atoms did not change instead of compiling
/// them (see [`crate::pool`]).
pub(crate) struct Salvage {
    file: std::fs::File,
    /// Atom digest -> (offset in the file, blob).
    at: std::collections::HashMap<[u8; 32], (u64, Blob)>,
}

impl Salvage {
    /// The index of the cache file for `key`'s sources, when there is one of this engine and
    /// matcher build (the header only is read).
    pub fn open(dir: &Path, key: &Key) -> Option<Salvage> {
        let mut file = std::fs::File::open(key.file(dir)).ok()?;
        let (header, hlen) = read_header(&mut file).ok()?;
        if header.key.matcher != key.matcher {
            return None;
        }
        let mut off = 16 + u64::from(hlen) + header.payload_len;
        let mut at = std::collections::HashMap::new();
        for b in header.blobs {
            let len = b.len;
            at.insert(b.atoms, (off, b));
            off = off.checked_add(len)?;
        }
        Some(Salvage { file, at })
    }

    /// The matcher whose atoms have `digest`, if the file has it and it reads back intact.
    pub fn take(&mut self, digest: &[u8; 32]) -> Option<AtomDb> {
        use std::io::Seek;
        let (off, blob) = self.at.get(digest)?;
        self.file.seek(std::io::SeekFrom::Start(*off)).ok()?;
        match read_blob(&mut self.file, blob) {
            Ok(db) => Some(db),
            Err(e) => {
                tracing::debug!("stale cache: matcher not reused: {e}");
                None
            }
        }
    }
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
    for slice in compiled.groups.iter().flat_map(|g| &g.slices) {
        let Some(db) = &slice.db else {
            return Err(corrupt("matcher missing"));
        };
        let b = db.serialize().map_err(|e| corrupt(e.to_string()))?;
        lens.push(Blob {
            len: b.len() as u64,
            digest: *blake3::hash(&b).as_bytes(),
            atoms: slice.digest,
        });
        blobs.push(b);
    }
    let header = postcard::to_allocvec(&Header {
        key: key.clone(),
        payload_len: payload.len() as u64,
        payload_digest: *blake3::hash(&payload).as_bytes(),
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
        w.write_all(&FORMAT.to_le_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Database, LoadOptions};

    /// A matcher whose bytes were damaged in a stale cache file is compiled again, never used;
    /// the file's intact matchers are still taken.
    #[test]
    fn a_damaged_matcher_in_a_stale_file_is_compiled_not_salvaged() {
        let sigs = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        std::fs::write(
            sigs.path().join("a.ndb"),
            format!(
                "Salvage.Any-1:0:*:{}\nSalvage.Html-1:3:*:{}\n",
                hex("salvage-test-any"),
                hex("salvage-test-html")
            ),
        )
        .unwrap();
        let hdb = |name: &str| {
            let line = format!("44d88612fea8a8f36de82e1278abb02f:68:{name}\n");
            std::fs::write(sigs.path().join("b.hdb"), line).unwrap();
        };
        hdb("Salvage.Hash-1");
        let opts = LoadOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            ..LoadOptions::default()
        };
        let paths = [sigs.path().to_path_buf()];
        let (db, r) = Database::load(&paths, &opts).unwrap();
        assert_eq!((r.matchers_compiled, r.matchers_reused), (2, 0));
        drop(db);

        // Damage the first matcher's bytes in the file.
        let key = Key::new(&paths, &crate::load::stamp_files(&paths).unwrap(), &opts);
        let file = key.file(cache.path());
        let mut bytes = std::fs::read(&file).unwrap();
        let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let header: Header = postcard::from_bytes(&bytes[16..16 + hlen]).unwrap();
        assert_eq!(header.blobs.len(), 2);
        let first = 16 + hlen + header.payload_len as usize;
        bytes[first + 7] ^= 0x40;
        std::fs::write(&file, bytes).unwrap();
        let mut s = Salvage::open(cache.path(), &key).unwrap();
        assert!(s.take(&header.blobs[0].atoms).is_none());
        assert!(s.take(&header.blobs[1].atoms).is_some());
        assert!(s.take(&[7; 32]).is_none());

        // A changed file and a new one (hash signatures only: no atom changes) make the cache
        // stale, in the same file (named by the directory): the intact matcher is reused, the
        // damaged one compiled, and the database detects.
        hdb("Salvage.Hash-2");
        std::fs::write(
            sigs.path().join("c.hdb"),
            "00000000000000000000000000000000:1:Salvage.Hash-3\n",
        )
        .unwrap();
        let (db, r) = Database::load(&paths, &opts).unwrap();
        assert_eq!(
            r.cache.as_ref().map(ToString::to_string).as_deref(),
            Some("rebuilt (stale: signature files changed)")
        );
        assert_eq!((r.matchers_compiled, r.matchers_reused), (1, 1));
        let files = std::fs::read_dir(cache.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "db"))
            })
            .count();
        assert_eq!(files, 1, "one cache file per directory");
        let db = std::sync::Arc::new(db);
        let mut s = crate::Scanner::new(db, &crate::ScanOptions::default());
        s.feed(b"..salvage-test-any..");
        let v = s.finish();
        assert_eq!(v.threats.len(), 1);
        assert_eq!(v.threats[0].name, "Salvage.Any-1");
    }
}
