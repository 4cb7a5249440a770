//! `bulwark-squid`: the squid.conf lines that point Squid at Bulwark.
//!
//! - [`snippet`] prints the block (Squid 3.0 or 3.1+ dialect, plain or Secure ICAP) between the
//!   [`BEGIN_MARKER`] and [`END_MARKER`] comment lines.
//! - [`apply_to_text`] / [`plan_edit`] put the block into a squid.conf text (pure, no I/O):
//!   an existing managed block is replaced in place, otherwise the block goes before the first
//!   top-level `http_access deny all`, otherwise at the end.
//! - [`apply`] does it to a file: timestamped backup, atomic replace, `squid -k parse -f FILE`,
//!   and the original restored byte for byte when Squid rejects the result.

mod apply;
mod edit;
mod snippet;

use std::path::PathBuf;

pub use apply::{apply, probe_squid, ApplyReport, SquidBuild, TlsLibrary, PARSE_TIMEOUT};
pub use edit::{apply_to_text, plan_edit, Edit, Placement};
pub use snippet::{
    snippet, SnippetError, SnippetOptions, SquidVersion, TlsOptions, BEGIN_MARKER,
    BEGIN_MARKER_PREFIX, DEFAULT_ADDRESS, DEFAULT_REQMOD_PATH, DEFAULT_RESPMOD_PATH,
    DEFAULT_TLS_ADDRESS, END_MARKER, GET_ACL, REQ_SERVICE, RESP_SERVICE, UPLOAD_BUFFER,
};

/// Why the block could not be applied. Every variant leaves squid.conf as it was (the
/// [`ApplyError::RestoreFailed`] variant says how to put it back by hand).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The options cannot produce a valid block.
    #[error(transparent)]
    Options(#[from] SnippetError),
    /// The `# BEGIN bulwark` / `# END bulwark` markers are unusable.
    #[error("squid.conf line {line}: {reason}; fix the markers by hand")]
    Markers {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file ends inside a `\` line continuation, so an appended block would be glued on.
    #[error("squid.conf ends with a '\\' line continuation: cannot append the block safely")]
    TrailingContinuation,
    /// The file cannot be read (missing, permissions…).
    #[error("cannot read {}: {error}", path.display())]
    NotReadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file or its directory cannot be written (needed for the backup and the atomic
    /// replace).
    #[error("cannot write {}: {error} (run as a user who may edit it, e.g. root)", path.display())]
    NotWritable {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The Squid binary could not be run (needed for the `squid -k parse` check).
    #[error("cannot run {} ({what}): {detail}", bin.display())]
    SquidNotRunnable {
        /// The binary.
        bin: PathBuf,
        /// What was being run.
        what: &'static str,
        /// The error or Squid's output.
        detail: String,
    },
    /// This Squid cannot use the requested Secure ICAP settings.
    #[error("{0}")]
    TlsUnsupported(String),
    /// Writing the backup failed; squid.conf was not touched.
    #[error("cannot write the backup {}: {error}; squid.conf was not changed", path.display())]
    Backup {
        /// The backup file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Writing the new squid.conf failed before it replaced the old one.
    #[error("cannot write the new {}: {error}; squid.conf was not changed", path.display())]
    Write {
        /// squid.conf.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// `squid -k parse` rejected the result; the original was restored byte for byte.
    #[error("{}", parse_failed_message(path, backup.as_ref(), *original_already_broken, output, notes))]
    ParseFailed {
        /// squid.conf.
        path: PathBuf,
        /// The backup written before the change (`None` when nothing had to change).
        backup: Option<PathBuf>,
        /// The original file fails `squid -k parse` too: the problem is not the block.
        original_already_broken: bool,
        /// Squid's relevant output lines.
        output: String,
        /// Lines of the file that may explain the rejection (see [`Edit::warnings`]).
        notes: Vec<String>,
    },
    /// Restoring the original after a failed check failed: the backup holds it.
    #[error(
        "squid -k parse rejected the new {path}, and restoring the original failed ({error}); \
         copy {backup} over it by hand. Squid said:\n{output}",
        path = path.display(),
        backup = backup.display()
    )]
    RestoreFailed {
        /// squid.conf.
        path: PathBuf,
        /// The backup holding the original.
        backup: PathBuf,
        /// The I/O error of the restore.
        error: std::io::Error,
        /// Squid's relevant output lines.
        output: String,
    },
}

fn parse_failed_message(
    path: &std::path::Path,
    backup: Option<&PathBuf>,
    already_broken: bool,
    output: &str,
    notes: &[String],
) -> String {
    let mut m = if already_broken {
        format!(
            "{} already fails `squid -k parse` without Bulwark's block: fix it first",
            path.display()
        )
    } else {
        format!(
            "`squid -k parse` rejected {} with Bulwark's block",
            path.display()
        )
    };
    match backup {
        Some(b) => m.push_str(&format!(
            "; the original was restored byte for byte (backup: {})",
            b.display()
        )),
        None => m.push_str("; the file already had this block and was not changed"),
    }
    m.push_str(". Squid said:\n");
    m.push_str(output);
    for n in notes {
        m.push_str("\nnote: ");
        m.push_str(n);
    }
    m
}
