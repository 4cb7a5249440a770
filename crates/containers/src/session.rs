//! The state of one deep scan ([`ScanSession`]): limits accounting, threats and findings, and the
//! member pipeline (decoded bytes → engine scanner + spool). The recursion into a member is
//! `walk`'s, which implements [`crate::scan::Scan`] over this state.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use bulwark_engine::{Database, Scanner, Status, Threat};

use crate::blob::{Blob, Spool};
use crate::options::DeepOptions;
use crate::scan::{join, Abort, Limit, MemberResult, Packed, Sink};

/// One deep scan's state.
pub(crate) struct ScanSession<'a> {
    pub db: Arc<Database>,
    /// The ClamAV types of the containers being walked, outermost first: every member scanned
    /// now is inside them (`Container:`/`Intermediates:` conditions).
    pub ancestry: Vec<bulwark_engine::cltype::ClType>,
    pub opts: &'a DeepOptions,
    started: Instant,
    pub total: u64,
    pub members: u64,
    pub threats: Vec<Threat>,
    pub limit: Option<Limit>,
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
    /// What `HandlerType` signatures asked of the blob about to be walked (set when a
    /// member's scan ends, taken by the walk of that member; reported by [`ScanSession::flush_handler`]
    /// if nothing walks it).
    pub next_handler: Option<PendingHandler>,
}

/// A `HandlerType` request of the blob at `path`, waiting for that blob's walk: rescan it as
/// the type, then report the signatures.
#[derive(Debug)]
pub(crate) struct PendingHandler {
    /// What the signatures ask.
    pub req: bulwark_engine::HandlerRequest,
    /// Where the blob is.
    pub path: String,
}

impl<'a> ScanSession<'a> {
    /// A fresh scan state.
    pub fn new(db: Arc<Database>, opts: &'a DeepOptions, started: Instant) -> Self {
        ScanSession {
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
            return Err(Abort::Limit(Limit::ScanTime));
        }
        Ok(())
    }

    /// Records a limit hit (the first one is kept as the reason).
    pub fn hit(&mut self, what: Limit) {
        tracing::debug!(limit = what.as_str(), "unpack limit exceeded");
        if self.limit.is_none() {
            self.limit = Some(what);
        }
    }

    /// Starts a member at `depth`; `None` when it must not be unpacked (too deep).
    pub fn begin(&mut self, depth: u32, packed: Packed) -> Result<Option<Sink>, Abort> {
        self.check_time()?;
        self.members += 1;
        if self.members > self.opts.limits.max_members {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        if depth > self.opts.limits.max_depth {
            self.hit(Limit::NestingDepth);
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
            return Err(Abort::Limit(Limit::TotalBytes));
        }
        let len = sink.spool.len() + n;
        if len > l.max_member_bytes {
            return Err(Abort::Member(Limit::MemberSize));
        }
        if len > l.ratio_min_bytes {
            if let Some(p) = sink.packed.get() {
                if len / p.max(1) > l.max_ratio {
                    // A bomb, not a well-compressed file: stop the whole object.
                    return Err(Abort::Limit(Limit::CompressionRatio));
                }
            }
        }
        self.check_time()?;
        sink.scanner.feed(data);
        if sink.spool.push(data).is_err() {
            self.error = true;
            return Err(Abort::Member(Limit::TempFile));
        }
        Ok(())
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
        self.flush_handler();
        let (v, handler) = sink.scanner.finish_with_handler();
        let mut res = MemberResult::default();
        if let Some(t) = self.record(&v, path) {
            res.threat = Some(t);
            if self.stop_at_first {
                return Err(Abort::Done);
            }
        }
        self.next_handler = handler.map(|req| PendingHandler {
            req,
            path: path.to_string(),
        });
        if !recurse {
            // Nothing opens this member: its HandlerType signatures report now.
            res.threat = self.flush_handler();
            if res.threat.is_some() && self.stop_at_first {
                return Err(Abort::Done);
            }
            return Ok((res, None));
        }
        Ok((res, Some(sink.spool.finish())))
    }

    /// Reports the signatures of a pending `HandlerType` request (after its rescan, or when
    /// nothing will rescan it); returns the first one's name.
    pub fn flush_handler(&mut self) -> Option<String> {
        let p = self.next_handler.take()?;
        let mut v = bulwark_engine::Verdict::clean();
        v.add_names(p.req.names);
        self.record(&v, &p.path)
    }

    /// Adds an engine verdict's threats under `path`; returns the first threat's name.
    pub fn record(&mut self, v: &bulwark_engine::Verdict, path: &str) -> Option<String> {
        match v.status {
            Status::Protected => self.protected = true,
            Status::Corrupted => self.corrupted = true,
            Status::LimitsExceeded => self.hit(Limit::Engine),
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
        self.scan_blob_as(blob, path, None)
    }

    /// [`ScanSession::scan_blob`], as type `ty` whatever its content when given (a `HandlerType`
    /// rescan).
    pub fn scan_blob_as(
        &mut self,
        blob: &Blob,
        path: &str,
        ty: Option<bulwark_engine::cltype::ClType>,
    ) -> Result<Option<String>, Abort> {
        let mut sc = match ty {
            Some(t) => Scanner::new_as(self.db.clone(), &self.opts.engine, t),
            None => Scanner::new(self.db.clone(), &self.opts.engine),
        };
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
