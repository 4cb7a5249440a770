//! Bulwark's deep scanner: what is inside an object (issue #4, SPEC F-ENG-3/4/5).
//!
//! A [`DeepScanner`] wraps the engine's streaming [`Scanner`]: [`DeepScanner::feed`] scans the raw
//! bytes as they arrive (exactly as the plain engine does) and spools them (memory, then an
//! unlinked temp file) when something may need unpacking; [`DeepScanner::finish`] then undoes the
//! HTTP `Content-Encoding`, opens containers recursively (zip, tar, gzip, bzip2, xz, zstd, 7z,
//! cab, OLE2, embedded and self-extracting objects), mail (MIME, mbox, uuencode) and
//! multipart/form-data uploads, scanning every member as its own object with its path
//! (`a.zip/b.tar.gz/c.exe`), within [`Limits`](bulwark_config::Limits) (`[engine.limits]`); and, when asked, cures zip, tar (and their
//! gzip/bzip2 forms) and MIME messages.
//!
//! Modules, from the bottom up (`scripts/module-cycles.py crates/containers/src` checks that
//! no import cycle creeps in):
//! - `blob` (an object or member in memory or a temp file), `kind` ([`Kind`]), `options`
//!   ([`DeepOptions`], which holds the configuration's `Limits`);
//! - `scan`: the narrow `Scan` trait every format is written against (options,
//!   members, findings and limits as enums), and what crosses it;
//! - `fmt/*`: one opener per format (decoders that need nothing of the scan are in
//!   `bulwark_formats`);
//! - `ctx`: the scan's state (limits accounting, threats, the member pipeline);
//! - `open`: the registry of openers (sniff + open, in order; [`detect`] is its first match);
//! - `walk`: the recursion, and `Scan` for `ctx`; `encoding` (Content-Encoding), `cure`
//!   (rebuilding containers), `ancestry` (ClamAV container types), `heuristics`.
//!
//! To add a format: a module in `fmt` with a `walk` over `impl Scan`, and one entry in
//! `open::OPENERS`.

mod ancestry;
mod blob;
mod cure;
pub mod encoding;
pub mod fmt;
pub mod heuristics;
pub mod kind;
mod open;
mod options;
mod scan;
mod session;
mod walk;

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use bulwark_engine::{
    ContentHasher, Database, ErrorDetail, Scanner, Status, Threat, Verdict, VerdictCache,
    VerdictKey,
};

pub use options::DeepOptions;

use blob::{Blob, Spool};
pub use kind::Kind;
pub use open::detect;
use scan::{Abort, Limit, Scan};
use session::ScanSession;

/// The result of a deep scan.
#[derive(Debug)]
pub struct DeepVerdict {
    /// Status and threats (each with its path inside the object; empty path = the object).
    pub verdict: Verdict,
    /// The cured object when the status is `Cured`.
    pub cured: Option<CuredBody>,
    /// Packers recognised: (path, packer name). Informational.
    pub packers: Vec<(String, String)>,
    /// Why things were not unpacked (limits hit, unsupported methods…). Informational.
    pub notes: Vec<String>,
    /// Bytes unpacked from the object (all members, all depths).
    pub unpacked_bytes: u64,
}

/// How [`DeepVerdict::notes`] names the limit that was hit.
const LIMIT_NOTE: &str = "limit exceeded: ";

/// Which verdict cache answered a deep scan (the object was not unpacked again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTier {
    /// This instance's verdict cache.
    Local,
    /// The verdicts shared with other instances ([`DeepOptions::shared_verdicts`]).
    Shared,
}

impl CacheTier {
    /// How [`DeepVerdict::notes`] says it.
    fn note(self) -> &'static str {
        match self {
            CacheTier::Local => "verdict from the verdict cache",
            CacheTier::Shared => "verdict from the shared verdict cache",
        }
    }
}

impl DeepVerdict {
    /// The first limit hit while unpacking, when one was: `"object size"`, `"member size"`,
    /// `"total unpacked bytes"`, `"member count"`, `"nesting depth"`, `"scan time"`,
    /// `"compression ratio"`, `"overlapping zip entries"`… (what `bulwark scan` turns into
    /// ClamAV's `Heuristics.Limits.Exceeded.*` names).
    pub fn limit(&self) -> Option<&str> {
        self.notes.iter().find_map(|n| n.strip_prefix(LIMIT_NOTE))
    }

    /// The cache the verdict came from, when the object was not scanned again.
    pub fn cached(&self) -> Option<CacheTier> {
        [CacheTier::Local, CacheTier::Shared]
            .into_iter()
            .find(|t| self.notes.iter().any(|n| n == t.note()))
    }
}

/// A cured object: a temp file or bytes.
#[derive(Debug)]
pub struct CuredBody {
    blob: Blob,
    /// The cure was done on the decoded body: the HTTP `Content-Encoding` no longer applies (the
    /// server must drop that header and send the new length).
    pub decoded: bool,
}

impl CuredBody {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.blob.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes, from the start.
    pub fn reader(self) -> CuredReader {
        match self.blob {
            Blob::Memory(v, _) => CuredReader(ReaderInner::Mem(Cursor::new(v))),
            Blob::File(mut f, _) => {
                use std::io::Seek;
                let _ = f.seek(io::SeekFrom::Start(0));
                CuredReader(ReaderInner::File(f))
            }
        }
    }
}

/// Reads a [`CuredBody`].
#[derive(Debug)]
pub struct CuredReader(ReaderInner);

#[derive(Debug)]
enum ReaderInner {
    Mem(Cursor<Vec<u8>>),
    File(File),
}

impl Read for CuredReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            ReaderInner::Mem(c) => c.read(buf),
            ReaderInner::File(f) => f.read(buf),
        }
    }
}

/// One deep scan of one object.
#[derive(Debug)]
pub struct DeepScanner {
    db: Arc<Database>,
    opts: DeepOptions,
    raw: Scanner,
    spool: Option<Spool>,
    head: Vec<u8>,
    overflow: bool,
    spool_failed: bool,
    all_matches: bool,
}

impl DeepScanner {
    /// A deep scan over `db` with `opts`.
    pub fn new(db: Arc<Database>, mut opts: DeepOptions) -> Self {
        // Every spill file of this scan (the engine's too) goes to the scan's temp directory.
        opts.engine
            .spill_dir
            .get_or_insert_with(|| opts.temp_dir.clone());
        let raw = Scanner::new(db.clone(), &opts.engine);
        let spool = opts
            .needs_body()
            .then(|| Spool::new(opts.limits.spill_bytes, &opts.temp_dir));
        DeepScanner {
            db,
            opts,
            raw,
            spool,
            head: Vec::new(),
            overflow: false,
            spool_failed: false,
            all_matches: false,
        }
    }

    /// Reports every threat instead of stopping at the first one: unpacking goes on after a
    /// detection (clamscan's `--allmatch`). The verdict cache is not used then.
    pub fn set_all_matches(&mut self, on: bool) {
        self.all_matches = on;
    }

    /// Feeds the next bytes of the object (cheap: the streaming scan plus an append to the spool).
    pub fn feed(&mut self, data: &[u8]) {
        self.raw.feed(data);
        if self.head.len() < 8192 {
            let n = (8192 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
        }
        if let Some(s) = &mut self.spool {
            if s.len() + data.len() as u64 > self.opts.limits.max_object_bytes {
                self.overflow = true;
                self.spool = None;
            } else if s.push(data).is_err() {
                self.spool_failed = true;
                self.spool = None;
            }
        }
    }

    /// A detection found so far in the raw bytes, so a caller may stop early.
    pub fn early_detection(&self) -> Option<&str> {
        self.raw.early_detection()
    }

    /// Raw bytes fed so far.
    pub fn bytes_scanned(&self) -> u64 {
        self.raw.bytes_scanned()
    }

    /// Ends the scan: unpacks and scans what is inside, cures when asked. May take long (call it
    /// off the async runtime). A panic in a parser gives status `Error`, never a crash.
    pub fn finish(self) -> DeepVerdict {
        Unfinished(Stage::Scanner(Box::new(self))).finish()
    }

    /// Whether [`DeepScanner::finish_light`] may finish this scan where it is: an object of at
    /// most [`LIGHT_BYTES`], held whole, that no opener recognises as a container or an
    /// executable, with no `Content-Encoding` or form boundary to undo (nothing the verdict cache
    /// would keep, so no shared-cache lookup either).
    pub fn is_light(&self) -> bool {
        self.raw.bytes_scanned() <= LIGHT_BYTES
            && !self.overflow
            && !self.spool_failed
            && self.opts.content_encoding.is_none()
            && self.opts.multipart_boundary.is_none()
            && detect(&self.head) == Kind::Other
    }

    /// Ends a light scan ([`DeepScanner::is_light`]) on the calling thread, as long as it
    /// stays light: its engine scan (bounded by its size), then the walk with no member allowed.
    /// When the walk finds something to open (an embedded object, an encoded one, a zip behind
    /// a prefix) or hits a limit, or the scan is not light, the rest is handed back: finish it
    /// with [`Unfinished::finish`] where it may take long (the walk starts over from the engine's
    /// verdict; the engine scan is not repeated). Async servers call this on their workers and
    /// spare most objects a trip to a blocking thread.
    pub fn finish_light(self) -> Result<DeepVerdict, Unfinished> {
        if !self.is_light() {
            return Err(Unfinished(Stage::Scanner(Box::new(self))));
        }
        let ended = match catch_unwind(AssertUnwindSafe(|| self.end())) {
            Ok(e) => e,
            Err(_) => return Ok(panicked()),
        };
        match catch_unwind(AssertUnwindSafe(|| ended.walk(true))) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Unfinished(Stage::Ended(Box::new(ended)))),
            Err(_) => Ok(panicked()),
        }
    }

    /// The engine's verdict on the raw bytes, and the object as spooled.
    fn end(self) -> Ended {
        let DeepScanner {
            db,
            opts,
            raw,
            spool,
            head,
            overflow,
            spool_failed,
            all_matches,
        } = self;
        let (raw_v, handler) = raw.finish_with_handler();
        Ended {
            db,
            opts,
            raw_v,
            handler,
            blob: spool.map(|s| s.finish()),
            head,
            overflow,
            spool_failed,
            all_matches,
        }
    }
}

/// Objects up to this size may finish on the caller's thread ([`DeepScanner::finish_light`]):
/// the engine scans one in about a millisecond at most (a 15 KB HTML page with the real ClamAV
/// database: ≈ 0.25 ms), less than a trip to another thread costs under load on two cores.
pub const LIGHT_BYTES: u64 = 64 << 10;

/// A deep scan whose finish may take long: run [`Unfinished::finish`] off the async runtime.
#[derive(Debug)]
pub struct Unfinished(Stage);

#[derive(Debug)]
enum Stage {
    /// Nothing finished yet.
    Scanner(Box<DeepScanner>),
    /// The engine's scan is done; the walk is to do.
    Ended(Box<Ended>),
}

impl Unfinished {
    /// Ends the scan: unpacks and scans what is inside, cures when asked. A panic in a parser
    /// gives status `Error`, never a crash.
    pub fn finish(self) -> DeepVerdict {
        let run = || {
            let ended = match self.0 {
                Stage::Scanner(s) => s.end(),
                Stage::Ended(e) => *e,
            };
            ended.walk(false)
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Some(v)) => v,
            // A walk without the light bounds always gives a verdict.
            Ok(None) | Err(_) => panicked(),
        }
    }
}

/// The verdict of a scan that panicked: an engine error, not a threat.
fn panicked() -> DeepVerdict {
    tracing::error!("deep scan panicked");
    DeepVerdict {
        verdict: Verdict::error(ErrorDetail::ScanFailed),
        cured: None,
        packers: Vec::new(),
        notes: vec!["internal error while unpacking".to_string()],
        unpacked_bytes: 0,
    }
}

/// A scan whose engine part is done: what the walk needs.
#[derive(Debug)]
struct Ended {
    db: Arc<Database>,
    opts: DeepOptions,
    raw_v: Verdict,
    handler: Option<bulwark_engine::HandlerRequest>,
    /// The spooled object (`None` when nothing needed it, or it overflowed or failed).
    blob: Option<Blob>,
    head: Vec<u8>,
    overflow: bool,
    spool_failed: bool,
    all_matches: bool,
}

impl Ended {
    /// Unpacks, scans and cures; the deep verdict. `light`: no member may be opened and no
    /// limit hit — `None` then, and nothing was recorded anywhere (not in the verdict cache).
    fn walk(&self, light: bool) -> Option<DeepVerdict> {
        let Ended {
            db,
            opts,
            raw_v,
            handler,
            blob,
            head,
            overflow,
            spool_failed,
            all_matches,
        } = self;
        let (overflow, spool_failed, all_matches) = (*overflow, *spool_failed, *all_matches);
        let light_opts;
        let opts = if light {
            let mut o = opts.clone();
            o.limits.max_members = 0;
            light_opts = o;
            &light_opts
        } else {
            opts
        };
        let mut ctx = ScanSession::new(db.clone(), opts, Instant::now());
        ctx.next_handler = handler.clone().map(|req| session::PendingHandler {
            req,
            path: String::new(),
        });
        if all_matches {
            ctx.stop_at_first = false;
        }
        ctx.record(raw_v, "");
        if spool_failed {
            ctx.error = true;
        }
        let mut cured = None;
        let mut cache_slot = None;
        let stop = !ctx.threats.is_empty() && !opts.cure && !all_matches;
        if !stop {
            if overflow {
                if detect(head).is_container() || opts.content_encoding.is_some() {
                    ctx.hit(Limit::ObjectSize);
                }
            } else if let Some(blob) = blob {
                if raw_v.status == Status::Clean && !spool_failed && !all_matches {
                    cache_slot = cache_key(db, opts, head, blob);
                }
                if let Some((c, key)) = &cache_slot {
                    if let Some((verdict, tier)) = cached(c, key, opts) {
                        return Some(DeepVerdict {
                            verdict: named(verdict, opts.name.as_deref()),
                            cured: None,
                            packers: Vec::new(),
                            notes: vec![tier.note().to_string()],
                            unpacked_bytes: 0,
                        });
                    }
                }
                let r = deep(&mut ctx, blob);
                if light && ctx.members > 0 {
                    // Something to open: the full walk does it (and reports any limit).
                    return None;
                }
                match r {
                    Ok(c) => cured = c,
                    Err(Abort::Limit(what)) | Err(Abort::Member(what)) => ctx.hit(what),
                    Err(Abort::Done) => {}
                }
            }
        }
        if light && ctx.limit.is_some() {
            return None;
        }
        // HandlerType signatures of the object that no walk rescanned (too large, a cached
        // verdict…) still report.
        ctx.flush_handler();
        let status = if !ctx.threats.is_empty() {
            if cured.is_some() {
                Status::Cured
            } else {
                match raw_v.status {
                    Status::Suspicious | Status::Warning
                        if ctx.threats.len() == raw_v.threats.len() =>
                    {
                        raw_v.status
                    }
                    _ => Status::Infected,
                }
            }
        } else if ctx.limit.is_some() {
            Status::LimitsExceeded
        } else if ctx.protected {
            Status::Protected
        } else if ctx.corrupted {
            Status::Corrupted
        } else if ctx.error {
            Status::Error
        } else {
            raw_v.status
        };
        let mut notes = std::mem::take(&mut ctx.notes);
        if let Some(l) = ctx.limit {
            notes.push(format!("{LIMIT_NOTE}{l}"));
        }
        let verdict = Verdict {
            status,
            threats: std::mem::take(&mut ctx.threats),
            error: (status == Status::Error).then_some(ErrorDetail::ScanFailed),
        };
        if let Some((c, key)) = cache_slot {
            // Only clean and infected verdicts are kept (the local cache checks; the shared
            // one is offered those only).
            let kept = unnamed(verdict.clone(), opts.name.as_deref());
            if let Some(shared) = &opts.shared_verdicts {
                if matches!(kept.status, Status::Clean | Status::Infected) {
                    shared.put(&key, &kept);
                }
            }
            c.insert(key, kept);
        }
        Some(DeepVerdict {
            verdict,
            cured,
            packers: std::mem::take(&mut ctx.packers),
            notes,
            unpacked_bytes: ctx.total,
        })
    }
}

/// The verdict-cache entry for this object, when a cache is set, no cure is asked, and the
/// object is worth it (a container, an executable, an encoded body or a form upload: the kinds
/// whose deep scan does real work). The key digests the spooled body (blake3) and the options.
fn cache_key(
    db: &Database,
    opts: &DeepOptions,
    head: &[u8],
    blob: &Blob,
) -> Option<(Arc<VerdictCache>, VerdictKey)> {
    let cache = opts.verdict_cache.as_ref()?;
    if opts.cure {
        return None;
    }
    let kind = detect(head);
    let worth = kind.is_container()
        || matches!(kind, Kind::Pe | Kind::Elf)
        || opts.content_encoding.is_some()
        || opts.multipart_boundary.is_some();
    if !worth {
        return None;
    }
    let mut h = ContentHasher::new();
    let mut r = blob.reader().ok()?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    h.update(b"\0deep\0");
    h.update(opts.fingerprint().as_bytes());
    let key = VerdictKey::new(db, &opts.engine, &h.digest());
    Some((cache.clone(), key))
}

/// The verdict of the local cache, else of the shared one (then kept locally too).
fn cached(c: &VerdictCache, key: &VerdictKey, opts: &DeepOptions) -> Option<(Verdict, CacheTier)> {
    if let Some(v) = c.get(key) {
        return Some((v, CacheTier::Local));
    }
    let v = opts.shared_verdicts.as_ref()?.get(key)?;
    c.insert(*key, v.clone());
    Some((v, CacheTier::Shared))
}

/// Stands for the object's name in the threat paths of a cached verdict (control characters
/// never occur in member paths: `clean_name` replaces them).
const NAME_MARK: &str = "\u{1}";

/// `v` for the cache: threat paths under the object's `name` start with [`NAME_MARK`] instead,
/// so the verdict serves the same content under any name.
fn unnamed(mut v: Verdict, name: Option<&str>) -> Verdict {
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        for t in &mut v.threats {
            if t.path == n {
                t.path = NAME_MARK.to_string();
            } else if let Some(r) = t.path.strip_prefix(n).and_then(|r| r.strip_prefix('/')) {
                t.path = format!("{NAME_MARK}/{r}");
            }
        }
    }
    v
}

/// A cached verdict `v` for an object called `name`: [`NAME_MARK`] replaced by it.
fn named(mut v: Verdict, name: Option<&str>) -> Verdict {
    for t in &mut v.threats {
        if let Some(rest) = t.path.strip_prefix(NAME_MARK) {
            t.path = match (name.filter(|n| !n.is_empty()), rest.strip_prefix('/')) {
                (Some(n), _) => format!("{n}{rest}"),
                (None, Some(r)) => r.to_string(),
                (None, None) => String::new(),
            };
        }
    }
    v
}

/// Decoding, unpacking and cure of the whole object.
fn deep(ctx: &mut ScanSession, blob: &Blob) -> Result<Option<CuredBody>, Abort> {
    let opts = ctx.opts;
    let prefix = opts.name.clone().unwrap_or_default();
    // The object as received, or what its Content-Encoding hid, or what a compressed root
    // held (with cure): each owned here while `root` points at the one to walk.
    let (decoded_root, peeled);
    let mut root = blob;
    let mut decoded = false;
    if let Some(ce) = &opts.content_encoding {
        match encoding::parse(ce) {
            Ok(c) if c.iter().any(|c| *c != encoding::Coding::Identity) => {
                match encoding::decode(ctx, root, &c, "")? {
                    Some(b) => {
                        decoded_root = b;
                        root = &decoded_root;
                        decoded = true;
                    }
                    None => return Ok(None),
                }
            }
            Ok(_) => {}
            Err(unknown) => ctx.notes.push(unknown.to_string()),
        }
    }
    if ctx.stop_at_first && !ctx.threats.is_empty() {
        return Ok(None);
    }
    // With cure, a compressed root is opened first so that what it holds can be rebuilt.
    let mut wrapper = None;
    if opts.cure && opts.scan_archives && opts.multipart_boundary.is_none() {
        let head = root.head(16).unwrap_or_default();
        let kind = detect(&head);
        if matches!(kind, Kind::Gzip | Kind::Bzip2) {
            if let Some(inner) = peel(ctx, root, kind, &prefix)? {
                peeled = inner;
                root = &peeled;
                wrapper = Some(kind);
            }
        }
    }
    let w = match &opts.multipart_boundary {
        Some(b) => fmt::mime::walk(ctx, root, &prefix, 1, false, Some(b))?,
        None => walk::walk(ctx, root, &prefix, 0)?,
    };
    if !opts.cure || ctx.threats.is_empty() || w.infected.is_empty() {
        return Ok(None);
    }
    let kind = if opts.multipart_boundary.is_some() {
        Some(Kind::Mail)
    } else {
        w.kind
    };
    let rebuilt = match kind {
        Some(Kind::Zip) => cure::zip(root, &w.infected, opts),
        Some(Kind::Tar) => cure::tar(root, &w.infected, opts),
        Some(Kind::Mail) | Some(Kind::Mbox) => cure::mime(root, &w.parts, &w.infected, opts),
        _ => return Ok(None),
    };
    let mut rebuilt = match rebuilt {
        Ok(b) => b,
        Err(e) => {
            ctx.notes.push(format!("cure failed: {e}"));
            return Ok(None);
        }
    };
    if let Some(k) = wrapper {
        rebuilt = match cure::recompress(&rebuilt, k, opts) {
            Ok(b) => b,
            Err(e) => {
                ctx.notes.push(format!("cure failed: {e}"));
                return Ok(None);
            }
        };
    }
    // The cured copy must itself come out clean.
    if !verify_clean(ctx, &rebuilt, decoded) {
        ctx.notes
            .push("cure failed: the rebuilt container still holds a threat".to_string());
        return Ok(None);
    }
    Ok(Some(CuredBody {
        blob: rebuilt,
        decoded,
    }))
}

/// Decompresses a gzip/bzip2 root into a blob (scanned by the engine as the object itself).
fn peel(ctx: &mut ScanSession, root: &Blob, kind: Kind, path: &str) -> Result<Option<Blob>, Abort> {
    let Ok(r) = root.reader() else {
        return Ok(None);
    };
    let count = scan::Counter::default();
    let counted: Box<dyn Read> = Box::new(scan::Counted::new(r, count.clone()));
    let Some(mut d) = fmt::compress::decoder(kind, counted) else {
        return Ok(None);
    };
    let Some(mut sink) = ctx.begin(1, scan::Packed::Counted(count))? else {
        return Ok(None);
    };
    let out = match ctx.pump(&mut sink, &mut d) {
        Ok(true) => Ok(()),
        Ok(false) => {
            ctx.corrupted = true;
            Ok(())
        }
        Err(e) => Err(e),
    };
    let (_, b) = ctx.end_raw(sink, path, out)?;
    Ok(b)
}

/// Scans a rebuilt container from scratch (no cure) and tells whether it is clean.
fn verify_clean(ctx: &ScanSession, blob: &Blob, decoded: bool) -> bool {
    let mut opts = ctx.opts.clone();
    opts.cure = false;
    opts.multipart_boundary = None;
    if decoded {
        opts.content_encoding = None;
    }
    let mut c = ScanSession::new(ctx.db.clone(), &opts, Instant::now());
    let r = c
        .scan_blob(blob, "")
        .and_then(|_| walk::walk(&mut c, blob, "", 0).map(|_| ()));
    matches!(r, Ok(()) | Err(Abort::Limit(_)) | Err(Abort::Member(_))) && c.threats.is_empty()
}

/// Threats of a verdict, for convenience in tests and logs: `name@path` each.
pub fn describe(v: &Verdict) -> Vec<String> {
    v.threats
        .iter()
        .map(|t: &Threat| {
            if t.path.is_empty() {
                t.name.clone()
            } else {
                format!("{}@{}", t.name, t.path)
            }
        })
        .collect()
}
