//! The update report file: one line per run, appended.

use std::io::Write;
use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::run::Report;

/// Appends `report`'s summary, prefixed with the time (RFC 3339, UTC), to `path`.
pub fn append(path: &Path, report: &Report) -> std::io::Result<()> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{now} update: {}", report.summary())
}
