//! What a deep scan does: [`DeepOptions`].

use std::path::PathBuf;
use std::sync::Arc;

use bulwark_engine::{ScanOptions, SharedVerdicts, VerdictCache};

use bulwark_config::Limits;

/// What a deep scan does (the policy group's engine options) and its limits.
#[derive(Debug, Clone)]
pub struct DeepOptions {
    /// Open archives (zip, tar, gzip, bzip2, xz, zstd, 7z, cab, OLE2, embedded objects) and the
    /// streams of PDF documents.
    pub scan_archives: bool,
    /// Look inside executables: recognise packers.
    pub scan_packed: bool,
    /// Open mail messages (MIME, base64, quoted-printable, uuencode).
    pub scan_mail_plain: bool,
    /// Open mailboxes (mbox).
    pub scan_mail_bases: bool,
    /// Rebuild infected zip/tar/MIME containers without their infected members.
    pub cure: bool,
    /// The HTTP `Content-Encoding` header value, undone before unpacking.
    pub content_encoding: Option<String>,
    /// The boundary of a `multipart/form-data` body (REQMOD uploads): each part is scanned.
    pub multipart_boundary: Option<String>,
    /// A file name hint (from the URL); members' paths start with it.
    pub name: Option<String>,
    /// Unpacking limits.
    pub limits: Limits,
    /// Where large objects and members spill.
    pub temp_dir: PathBuf,
    /// The engine's options for every object and member.
    pub engine: ScanOptions,
    /// Verdicts of earlier deep scans, keyed by content, database version and these options:
    /// an archive, executable or encoded object seen before is not unpacked again (never used
    /// when `cure` is on; only clean and infected verdicts are kept).
    pub verdict_cache: Option<Arc<VerdictCache>>,
    /// Verdicts shared with other instances, asked after a miss of `verdict_cache` and
    /// offered what it keeps (only used with `verdict_cache`).
    pub shared_verdicts: Option<Arc<dyn SharedVerdicts>>,
}

impl Default for DeepOptions {
    fn default() -> Self {
        DeepOptions {
            scan_archives: true,
            scan_packed: true,
            scan_mail_plain: true,
            scan_mail_bases: true,
            cure: false,
            content_encoding: None,
            multipart_boundary: None,
            name: None,
            limits: Limits::default(),
            temp_dir: std::env::temp_dir(),
            engine: ScanOptions::default(),
            verdict_cache: None,
            shared_verdicts: None,
        }
    }
}

impl DeepOptions {
    /// What besides the content and the engine options can change a deep verdict (the name
    /// only prefixes threat paths: see `unnamed` in lib.rs).
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{} {} {} {} {:?} {:?} {:?}",
            self.scan_archives,
            self.scan_packed,
            self.scan_mail_plain,
            self.scan_mail_bases,
            self.content_encoding,
            self.multipart_boundary,
            self.limits
        )
    }

    pub(crate) fn needs_body(&self) -> bool {
        self.scan_archives
            || self.scan_packed
            || self.scan_mail_plain
            || self.scan_mail_bases
            || self.content_encoding.is_some()
            || self.multipart_boundary.is_some()
    }
}
