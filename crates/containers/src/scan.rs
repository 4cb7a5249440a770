//! What a format's opener needs from the scan in progress, and nothing more: the [`Scan`]
//! trait (options, members, findings, budgets) and the values that cross it ([`Abort`],
//! [`Limit`], [`Finding`], [`Walked`]). Openers (`fmt::*`) are written against this trait;
//! `session::ScanSession` implements it (in `walk`, where a member's recursion lives), so that no format
//! module depends on the scan's state or on the walk that calls it.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use bulwark_engine::Scanner;

use crate::blob::{Blob, Spool};
use crate::kind::Kind;
use crate::options::DeepOptions;

/// A limit that stopped unpacking (named as [`crate::DeepVerdict::limit`] reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The object is larger than the deep scanner takes.
    ObjectSize,
    /// One member is larger than `max_member_bytes`.
    MemberSize,
    /// All members together are larger than `max_total_bytes`.
    TotalBytes,
    /// More members than `max_members`.
    MemberCount,
    /// Nested deeper than `max_depth`.
    NestingDepth,
    /// The scan took longer than `max_scan_time`.
    ScanTime,
    /// A member expands more than `max_ratio` times its packed size.
    CompressionRatio,
    /// The emulator's instruction or time budget ran out.
    Emulation,
    /// The engine stopped at one of its own limits.
    Engine,
    /// Mail headers beyond what is parsed.
    MailHeaders,
    /// Zip entries that overlap each other (a zip bomb's trick).
    OverlappingZipEntries,
    /// More zip records than are searched.
    ZipSignatures,
    /// A member could not be spooled to a temp file.
    TempFile,
    /// An NSIS installer's data is larger than is decompressed.
    NsisDataSize,
    /// A PDF document is larger than is parsed.
    PdfDocumentSize,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Limit {
    /// The name reported in notes and turned into `Heuristics.Limits.Exceeded.*` names.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Limit::ObjectSize => "object size",
            Limit::MemberSize => "member size",
            Limit::TotalBytes => "total unpacked bytes",
            Limit::MemberCount => "member count",
            Limit::NestingDepth => "nesting depth",
            Limit::ScanTime => "scan time",
            Limit::CompressionRatio => "compression ratio",
            Limit::Emulation => "emulation",
            Limit::Engine => "engine",
            Limit::MailHeaders => "mail headers",
            Limit::OverlappingZipEntries => "overlapping zip entries",
            Limit::ZipSignatures => "zip signatures",
            Limit::TempFile => "temp file",
            Limit::NsisDataSize => "NSIS data size",
            Limit::PdfDocumentSize => "PDF document size",
        }
    }
}

/// What an opener found out about the object, besides its members' verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Damaged data: a member or a structure did not decode.
    Corrupted,
    /// Encrypted content that could not be opened.
    Protected,
    /// An I/O error of ours (a temp file, a spool): the object was not fully scanned.
    Error,
    /// A limit was hit (the first one is kept as the reason).
    Limit(Limit),
    /// Something worth telling (an unsupported method, why a member was skipped).
    Note(String),
    /// The packer of the executable at a path.
    Packer {
        /// Where the executable is (`object` for the object itself).
        path: String,
        /// The packer's name.
        packer: &'static str,
    },
    /// A threat already known for identical content (a repeated zip member), at a path.
    Threat {
        /// The threat's name.
        name: String,
        /// Where the copy is.
        path: String,
    },
}

/// Bytes unpacked and members seen so far in the whole object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Bytes unpacked (all members, all depths).
    pub bytes: u64,
    /// Members begun.
    pub members: u64,
}

/// Why unpacking stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A limit on the whole object was hit (total bytes, member count, time): stop everything.
    Limit(Limit),
    /// A limit on one member was hit (member size, ratio): skip that member only.
    Member(Limit),
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
    pub(crate) fn get(&self) -> Option<u64> {
        match self {
            Packed::None => None,
            Packed::Fixed(n) => Some(*n),
            Packed::Counted(c) => Some(c.get()),
        }
    }
}

/// One member being extracted: scanned as it arrives, and kept for recursion.
pub(crate) struct Sink {
    pub(crate) scanner: Scanner,
    pub(crate) spool: Spool,
    pub(crate) packed: Packed,
}

/// The outcome of one member.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemberResult {
    /// The first threat found in the member or anything inside it.
    pub threat: Option<String>,
}

/// How a third-party decoder's failure on one member counts.
pub(crate) enum Failure {
    /// The member would pass a size budget: a member limit hit.
    TooLarge,
    /// The member's data is damaged.
    Corrupt,
}

/// The raw body of one leaf part, for cure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRange {
    /// Offset of the first body byte.
    pub start: u64,
    /// Offset just past the last body byte (before the line break that precedes a boundary).
    pub end: u64,
    /// The part's body is base64.
    pub base64: bool,
}

/// What walking one blob found.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// The first threat found inside (members at any depth).
    pub first_threat: Option<String>,
    /// Indexes of the direct members found infected, with a threat name (for cure).
    pub infected: Vec<(usize, String)>,
    /// What the blob was.
    pub kind: Option<Kind>,
    /// Raw body ranges of a MIME message's leaf parts (for cure), indexed like `infected`.
    pub parts: Vec<PartRange>,
}

/// Records a member's result into `w`.
pub(crate) fn note(w: &mut Walked, index: usize, r: MemberResult) {
    if let Some(t) = r.threat {
        if w.first_threat.is_none() {
            w.first_threat = Some(t.clone());
        }
        w.infected.push((index, t));
    }
}

/// Adds what another walk of the same blob found to `w`.
pub(crate) fn merge(w: &mut Walked, other: Walked) {
    if w.first_threat.is_none() {
        w.first_threat = other.first_threat;
    }
    w.infected.extend(other.infected);
}

/// What a format's opener needs from the scan in progress.
pub(crate) trait Scan<'o> {
    /// The scan's options and limits (they outlive the scan: borrowing them does not borrow
    /// the scan).
    fn options(&self) -> &'o DeepOptions;
    /// Records a finding.
    fn note(&mut self, f: Finding);
    /// Bytes unpacked and members seen so far.
    fn usage(&self) -> Usage;
    /// Charges work that produced no member (a member skipped, a repeated member's bytes);
    /// fails when it passes the object's limits.
    fn charge(&mut self, bytes: u64, members: u64) -> Result<(), Abort>;
    /// Whether the object was found damaged so far.
    fn corrupted(&self) -> bool;
    /// Takes back damage found by a guess (members searched for in data that may hold
    /// none): `corrupted` becomes what it `was` before the guess.
    fn restore_corrupted(&mut self, was: bool);
    /// Fails when the scan time is over.
    fn check_time(&self) -> Result<(), Abort>;
    /// Starts a member at `depth`; `None` when it must not be unpacked (too deep).
    fn begin(&mut self, depth: u32, packed: Packed) -> Result<Option<Sink>, Abort>;
    /// Appends decoded bytes to a member.
    fn write(&mut self, sink: &mut Sink, data: &[u8]) -> Result<(), Abort>;
    /// Ends a member without opening it: its verdict, and its bytes unless a member limit cut
    /// it. `outcome` is the result of feeding it.
    fn end_raw(
        &mut self,
        sink: Sink,
        path: &str,
        outcome: Result<(), Abort>,
    ) -> Result<(MemberResult, Option<Blob>), Abort>;
    /// Opens a member's bytes (already scanned as one object) and scans what is inside.
    fn open(&mut self, blob: &Blob, path: &str, depth: u32) -> Result<Walked, Abort>;

    /// Records a limit hit.
    fn hit(&mut self, l: Limit) {
        self.note(Finding::Limit(l));
    }

    /// `blob`'s bytes in memory, for a format read as a whole, when it holds at most `cap`;
    /// otherwise `over` is hit (or, when it cannot be read, an error noted) and `None`.
    fn bytes_within<'b>(
        &mut self,
        blob: &'b Blob,
        cap: u64,
        over: Limit,
    ) -> Option<std::borrow::Cow<'b, [u8]>> {
        match blob.bytes(cap) {
            Ok(Some(d)) => Some(d),
            Ok(None) => {
                self.hit(over);
                None
            }
            Err(_) => {
                self.note(Finding::Error);
                None
            }
        }
    }

    /// Copies `r` into the member; a read error means the member is corrupted (`false`; the
    /// bytes so far are kept).
    fn pump(&mut self, sink: &mut Sink, r: &mut dyn Read) -> Result<bool, Abort> {
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

    /// Ends a member: its verdict, then what is inside it.
    fn end(
        &mut self,
        sink: Sink,
        path: &str,
        depth: u32,
        outcome: Result<(), Abort>,
    ) -> Result<MemberResult, Abort> {
        let (mut res, blob) = self.end_raw(sink, path, outcome)?;
        if let Some(blob) = blob {
            let inner = self.open(&blob, path, depth)?;
            if res.threat.is_none() {
                res.threat = inner.first_threat;
            }
        }
        Ok(res)
    }

    /// A whole member from a reader, in one call.
    fn member(
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
                self.note(Finding::Corrupted);
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.end(sink, path, depth, out)
    }

    /// A whole member from bytes in memory.
    fn member_bytes(&mut self, data: &[u8], path: &str, depth: u32) -> Result<MemberResult, Abort> {
        let Some(mut sink) = self.begin(depth, Packed::None)? else {
            return Ok(MemberResult::default());
        };
        let out = data
            .chunks(64 << 10)
            .try_for_each(|c| self.write(&mut sink, c));
        self.end(sink, path, depth, out)
    }

    /// Scans a member that a third-party decoder produced in memory (the call ran under
    /// `catch_unwind`), or records why there is none: `classify` sorts its errors. Returns
    /// `false` when the decoder panicked, so the caller stops using it.
    fn decoded_member<E: std::fmt::Display>(
        &mut self,
        w: &mut Walked,
        index: usize,
        path: &str,
        depth: u32,
        decoded: std::thread::Result<Result<Vec<u8>, E>>,
        classify: impl Fn(&E) -> Failure,
    ) -> Result<bool, Abort>
    where
        Self: Sized,
    {
        match decoded {
            Ok(Ok(data)) => {
                let r = self.member_bytes(&data, path, depth)?;
                note(w, index, r);
            }
            Ok(Err(e)) => match classify(&e) {
                Failure::TooLarge => self.hit(Limit::MemberSize),
                Failure::Corrupt => {
                    tracing::debug!(error = %e, member = %path, "member not decoded");
                    self.note(Finding::Note(format!("{path}: {e}")));
                    self.note(Finding::Corrupted);
                }
            },
            Err(_) => {
                self.note(Finding::Note(format!("{path}: decoder panicked")));
                self.note(Finding::Corrupted);
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
