//! The state of one deep scan: limits accounting, threats found, and the member pipeline
//! (decoded bytes → engine scanner + spool → recursion into the member).

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bulwark_engine::{Database, Scanner, Status, Threat};

use crate::blob::{Blob, Spool};
use crate::DeepOptions;

/// Why unpacking stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A limit on the whole object was hit (total bytes, member count, time): stop everything.
    Limit(&'static str),
    /// A limit on one member was hit (member size, ratio): skip that member only.
    Member(&'static str),
    /// A threat was found and nothing more is needed (no cure): stop everything.
    Done,
}

/// A bytes counter shared with a reader (to know how many packed bytes a decoder consumed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter(pub Rc<Cell<u64>>);

impl Counter {
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A reader that counts the bytes read through it.
pub(crate) struct Counted<R> {
    inner: R,
    count: Counter,
}

impl<R: Read> Counted<R> {
    /// Counts what is read from `inner` into `count`.
    pub fn new(inner: R, count: Counter) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.set(self.count.0.get() + n as u64);
        Ok(n)
    }
}

/// How a member's packed size is known, for the ratio limit.
#[derive(Debug, Clone)]
pub(crate) enum Packed {
    /// Not packed (or unknown): no ratio check.
    None,
    /// Known in advance.
    Fixed(u64),
    /// Counted as the decoder reads.
    Counted(Counter),
}

impl Packed {
    fn get(&self) -> Option<u64> {
        match self {
            Packed::None => None,
            Packed::Fixed(n) => Some(*n),
            Packed::Counted(c) => Some(c.get()),
        }
    }
}

/// One member being extracted: scanned as it arrives, and kept for recursion.
pub(crate) struct Sink {
    scanner: Scanner,
    spool: Spool,
    packed: Packed,
}

/// The outcome of one member.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemberResult {
    /// The first threat found in the member or anything inside it.
    pub threat: Option<String>,
}

/// One deep scan's state.
pub(crate) struct Ctx<'a> {
    pub db: Arc<Database>,
    /// The ClamAV types of the containers being walked, outermost first: every member scanned
    /// now is inside them (`Container:`/`Intermediates:` conditions).
    pub ancestry: Vec<bulwark_engine::cltype::ClType>,
    pub opts: &'a DeepOptions,
    started: Instant,
    pub total: u64,
    pub members: u64,
    pub threats: Vec<Threat>,
    pub limit: Option<&'static str>,
    pub protected: bool,
    pub corrupted: bool,
    pub error: bool,
    pub notes: Vec<String>,
    /// Packers recognised: (path, packer).
    pub packers: Vec<(String, String)>,
    /// Stop at the first threat (no cure asked).
    pub stop_at_first: bool,
    /// The blob being walked is the output of a compression layer.
    pub in_compress: bool,
    /// The type a `HandlerType` signature asked the blob about to be walked to be opened as
    /// (set when a member's scan ends, taken by the walk of that member).
    pub next_handler: Option<bulwark_engine::cltype::ClType>,
}

impl<'a> Ctx<'a> {
    /// A fresh scan state.
    pub fn new(db: Arc<Database>, opts: &'a DeepOptions, started: Instant) -> Self {
        Ctx {
            db,
            opts,
            started,
            total: 0,
            members: 0,
            threats: Vec::new(),
            limit: None,
            protected: false,
            corrupted: false,
            error: false,
            notes: Vec::new(),
            packers: Vec::new(),
            stop_at_first: !opts.cure,
            in_compress: false,
            ancestry: Vec::new(),
            next_handler: None,
        }
    }

    /// Fails when the scan time is over.
    pub fn check_time(&self) -> Result<(), Abort> {
        if self.started.elapsed() > self.opts.limits.max_scan_time {
            return Err(Abort::Limit("scan time"));
        }
        Ok(())
    }

    /// Records a limit hit (the first one is kept as the reason).
    pub fn hit(&mut self, what: &'static str) {
        tracing::debug!(limit = what, "unpack limit exceeded");
        if self.limit.is_none() {
            self.limit = Some(what);
        }
    }

    /// Starts a member at `depth`; `None` when it must not be unpacked (too deep).
    pub fn begin(&mut self, depth: u32, packed: Packed) -> Result<Option<Sink>, Abort> {
        self.check_time()?;
        self.members += 1;
        if self.members > self.opts.limits.max_members {
            return Err(Abort::Limit("member count"));
        }
        if depth > self.opts.limits.max_depth {
            self.hit("nesting depth");
            return Ok(None);
        }
        let mut scanner = Scanner::new(self.db.clone(), &self.opts.engine);
        scanner.set_ancestry(self.ancestry.clone());
        Ok(Some(Sink {
            scanner,
            spool: Spool::new(self.opts.limits.spill_bytes, &self.opts.temp_dir),
            packed,
        }))
    }

    /// Appends decoded bytes to a member.
    pub fn write(&mut self, sink: &mut Sink, data: &[u8]) -> Result<(), Abort> {
        if data.is_empty() {
            return Ok(());
        }
        let l = &self.opts.limits;
        let n = data.len() as u64;
        self.total += n;
        if self.total > l.max_total_bytes {
            return Err(Abort::Limit("total unpacked bytes"));
        }
        let len = sink.spool.len() + n;
        if len > l.max_member_bytes {
            return Err(Abort::Member("member size"));
        }
        if len > l.ratio_min_bytes {
            if let Some(p) = sink.packed.get() {
                if len / p.max(1) > l.max_ratio {
                    // A bomb, not a well-compressed file: stop the whole object.
                    return Err(Abort::Limit("compression ratio"));
                }
            }
        }
        self.check_time()?;
        sink.scanner.feed(data);
        if sink.spool.write(data).is_err() {
            self.error = true;
            return Err(Abort::Member("temp file"));
        }
        Ok(())
    }

    /// Copies `r` into the member; a read error marks the member corrupted (bytes so far are kept).
    pub fn pump(&mut self, sink: &mut Sink, r: &mut dyn Read) -> Result<bool, Abort> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "member decode error");
                    return Ok(false);
                }
            };
            self.write(sink, &buf[..n])?;
        }
    }

    /// Ends a member: its verdict, then what is inside it. `outcome` is the result of feeding it:
    /// a member-level abort is recorded and the member is not unpacked further.
    pub fn end(
        &mut self,
        sink: Sink,
        path: &str,
        depth: u32,
        outcome: Result<(), Abort>,
    ) -> Result<MemberResult, Abort> {
        let (res, blob) = self.end_raw(sink, path, outcome)?;
        let Some(blob) = blob else {
            return Ok(res);
        };
        let mut res = res;
        let inner = crate::walk::walk(self, &blob, path, depth)?;
        if res.threat.is_none() {
            res.threat = inner.first_threat;
        }
        Ok(res)
    }

    /// Ends a member without opening it: its verdict, and its bytes unless a member limit cut it.
    pub fn end_raw(
        &mut self,
        sink: Sink,
        path: &str,
        outcome: Result<(), Abort>,
    ) -> Result<(MemberResult, Option<Blob>), Abort> {
        let mut recurse = true;
        match outcome {
            Ok(()) => {}
            Err(Abort::Member(what)) => {
                self.hit(what);
                recurse = false;
            }
            Err(e) => {
                // Keep what the partial member shows, then stop.
                let v = sink.scanner.finish();
                self.record(&v, path);
                return Err(e);
            }
        }
        self.next_handler = None;
        let (v, handler) = sink.scanner.finish_with_handler();
        let mut res = MemberResult::default();
        if let Some(t) = self.record(&v, path) {
            res.threat = Some(t);
            if self.stop_at_first {
                return Err(Abort::Done);
            }
        }
        if !recurse {
            return Ok((res, None));
        }
        match sink.spool.finish() {
            Ok(b) => {
                self.next_handler = handler;
                Ok((res, Some(b)))
            }
            Err(_) => {
                self.error = true;
                Ok((res, None))
            }
        }
    }

    /// A whole member from a reader, in one call.
    pub fn member(
        &mut self,
        r: &mut dyn Read,
        path: &str,
        depth: u32,
        packed: Packed,
    ) -> Result<MemberResult, Abort> {
        let Some(mut sink) = self.begin(depth, packed)? else {
            return Ok(MemberResult::default());
        };
        let out = match self.pump(&mut sink, r) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.corrupted = true;
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.end(sink, path, depth, out)
    }

    /// A whole member from bytes in memory.
    pub fn member_bytes(
        &mut self,
        data: &[u8],
        path: &str,
        depth: u32,
    ) -> Result<MemberResult, Abort> {
        let Some(mut sink) = self.begin(depth, Packed::None)? else {
            return Ok(MemberResult::default());
        };
        let out = data
            .chunks(64 << 10)
            .try_for_each(|c| self.write(&mut sink, c));
        self.end(sink, path, depth, out)
    }

    /// Adds an engine verdict's threats under `path`; returns the first threat's name.
    pub fn record(&mut self, v: &bulwark_engine::Verdict, path: &str) -> Option<String> {
        match v.status {
            Status::Protected => self.protected = true,
            Status::Corrupted => self.corrupted = true,
            Status::LimitsExceeded => self.hit("engine"),
            Status::Error => self.error = true,
            _ => {}
        }
        let mut first = None;
        for t in &v.threats {
            let p = join(path, &t.path);
            if !self.threats.iter().any(|x| x.name == t.name && x.path == p) {
                self.threats.push(Threat::new(t.name.clone(), p));
            }
            first.get_or_insert_with(|| t.name.clone());
        }
        first
    }

    /// Scans a blob as one object with the engine (no unpacking); records its threats.
    pub fn scan_blob(&mut self, blob: &Blob, path: &str) -> Result<Option<String>, Abort> {
        let mut sc = Scanner::new(self.db.clone(), &self.opts.engine);
        sc.set_ancestry(self.ancestry.clone());
        sc.set_size_hint(blob.len());
        let mut r = match blob.reader() {
            Ok(r) => r,
            Err(_) => {
                self.error = true;
                return Ok(None);
            }
        };
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => sc.feed(&buf[..n]),
                Err(_) => {
                    self.error = true;
                    break;
                }
            }
            self.check_time()?;
        }
        let v = sc.finish();
        let t = self.record(&v, path);
        if t.is_some() && self.stop_at_first {
            return Err(Abort::Done);
        }
        Ok(t)
    }
}

/// How a third-party decoder's failure on one member counts.
pub(crate) enum Failure {
    /// The member would pass a size budget: a member limit hit.
    TooLarge,
    /// The member's data is damaged.
    Corrupt,
}

impl Ctx<'_> {
    /// Scans a member that a third-party decoder produced in memory (the call ran under
    /// `catch_unwind`), or records why there is none: `classify` sorts its errors. Returns
    /// `false` when the decoder panicked, so the caller stops using it.
    pub fn decoded_member<E: std::fmt::Display>(
        &mut self,
        w: &mut crate::walk::Walked,
        index: usize,
        path: &str,
        depth: u32,
        decoded: std::thread::Result<Result<Vec<u8>, E>>,
        classify: impl Fn(&E) -> Failure,
    ) -> Result<bool, Abort> {
        match decoded {
            Ok(Ok(data)) => {
                let r = self.member_bytes(&data, path, depth)?;
                crate::walk::note(w, index, r);
            }
            Ok(Err(e)) => match classify(&e) {
                Failure::TooLarge => self.hit("member size"),
                Failure::Corrupt => {
                    tracing::debug!(error = %e, member = %path, "member not decoded");
                    self.notes.push(format!("{path}: {e}"));
                    self.corrupted = true;
                }
            },
            Err(_) => {
                self.notes.push(format!("{path}: decoder panicked"));
                self.corrupted = true;
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `path` for a note: "object" for the root.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() {
        "object"
    } else {
        path
    }
}

/// `parent/child`, with an empty parent giving `child`.
pub(crate) fn join(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (_, true) => parent.to_string(),
        _ => format!("{parent}/{child}"),
    }
}

/// A member name made safe for a path: no empty name, control characters replaced.
pub(crate) fn clean_name(name: &str, fallback: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(512)
        .collect();
    let n = n.trim_matches('/').to_string();
    if n.is_empty() {
        fallback.to_string()
    } else {
        n
    }
}
