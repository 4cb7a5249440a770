//! What is sent: one record per scanned (or refused) object, and the report log's messages.

use std::fmt;

/// The kind of a record; its RFC 5424 MSGID and CEF category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// An object scanned and found clean (or passed without a scan).
    Clean,
    /// A threat found: infected, suspicious, warning, cured.
    Detection,
    /// An object refused before its body was scanned (policy filter, licence, an object known
    /// to be infected).
    Blocked,
    /// A scan that could not finish: error, limits exceeded, encrypted, corrupted, too large.
    Incomplete,
    /// A message of the report log (the daemon's own log).
    Report,
}

impl RecordKind {
    /// The MSGID.
    pub fn msgid(self) -> &'static str {
        match self {
            RecordKind::Clean => "clean",
            RecordKind::Detection => "detection",
            RecordKind::Blocked => "blocked",
            RecordKind::Incomplete => "incomplete",
            RecordKind::Report => "report",
        }
    }

    /// The RFC 5424 severity of per-object records of this kind.
    pub(crate) fn severity(self) -> Severity {
        match self {
            RecordKind::Clean => Severity::Informational,
            RecordKind::Detection | RecordKind::Blocked => Severity::Warning,
            RecordKind::Incomplete | RecordKind::Report => Severity::Notice,
        }
    }

    /// The CEF severity (0-10) of per-object records of this kind.
    pub(crate) fn cef_severity(self) -> u8 {
        match self {
            RecordKind::Clean => 1,
            RecordKind::Detection => 8,
            RecordKind::Blocked => 5,
            RecordKind::Incomplete | RecordKind::Report => 3,
        }
    }
}

/// What the user got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The object, unchanged.
    Delivered,
    /// A block page instead of the object.
    Blocked,
    /// A cured copy.
    Cured,
    /// The first `after` bytes, then the transfer was cut (the verdict came late).
    Cut {
        /// Body bytes the client received.
        after: u64,
    },
    /// Nothing decided here: a clamd or API client was told the verdict.
    Reported,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Delivered => f.write_str("delivered"),
            Action::Blocked => f.write_str("blocked"),
            Action::Cured => f.write_str("cured"),
            Action::Cut { after } => write!(f, "cut-after-{after}"),
            Action::Reported => f.write_str("reported"),
        }
    }
}

/// One scanned or refused object.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRecord<'a> {
    /// Its kind (MSGID).
    pub kind: RecordKind,
    /// `RESPMOD`, `REQMOD`, `CLAMD` or `API`.
    pub protocol: &'a str,
    /// The verdict's status (`clean`, `infected`, `too_large`…).
    pub status: &'a str,
    /// The threat names found (empty when clean).
    pub threats: &'a [&'a str],
    /// The URL (or what a direct scan read: a path, `stream`).
    pub url: &'a str,
    /// The client's address, when known.
    pub client: Option<&'a str>,
    /// The user, when known.
    pub user: Option<&'a str>,
    /// The policy group.
    pub group: &'a str,
    /// What the user got.
    pub action: Action,
    /// The answer given, as the report log labels it (`block`, `204`, `200-echo`,
    /// `204-unscanned`, `block-cached`…).
    pub answer: &'a str,
    /// The object's size in bytes: the whole object's when `sha256` is there, else the bytes
    /// received up to the verdict.
    pub size: u64,
    /// SHA-256 of the whole object, when every byte of it was read.
    pub sha256: Option<&'a [u8; 32]>,
    /// The ISTag in force.
    pub istag: &'a str,
    /// The signature database version in force.
    pub database: &'a str,
    /// Milliseconds from the request to the verdict.
    pub millis: u64,
}

/// The level of a report-log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `ERROR`.
    Error,
    /// `WARN`.
    Warn,
    /// `INFO`.
    Info,
    /// `DEBUG` and `TRACE`.
    Debug,
}

impl Level {
    /// The name written in the records.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    pub(crate) fn severity(self) -> Severity {
        match self {
            Level::Error => Severity::Error,
            Level::Warn => Severity::Warning,
            Level::Info => Severity::Informational,
            Level::Debug => Severity::Debug,
        }
    }

    pub(crate) fn cef_severity(self) -> u8 {
        match self {
            Level::Error => 7,
            Level::Warn => 5,
            Level::Info => 2,
            Level::Debug => 0,
        }
    }
}

/// One message of the report log.
#[derive(Debug, Clone, Copy)]
pub struct ReportRecord<'a> {
    /// Its level.
    pub level: Level,
    /// Where it comes from (the module path, `bulwark::access`).
    pub target: &'a str,
    /// The text.
    pub message: &'a str,
    /// The other fields, in order.
    pub fields: &'a [(&'a str, String)],
}

/// RFC 5424 severities used here (§6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Longest URL (or other object name) sent, in bytes: receivers cut long messages (rsyslog at
/// 8 KiB by default), and a record must stay whole.
pub(crate) const MAX_URL: usize = 2048;
/// Longest user, group, client, ISTag or field value sent, in bytes.
pub(crate) const MAX_FIELD: usize = 256;
/// Most threat names sent per object.
pub(crate) const MAX_THREATS: usize = 16;
/// Longest report-log text sent, in bytes.
pub(crate) const MAX_TEXT: usize = 4096;

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_whole_characters() {
        assert_eq!(cap("abc", 5), "abc");
        assert_eq!(cap("aéb", 2), "a");
        assert_eq!(cap("aéb", 3), "aé");
    }

    #[test]
    fn actions_and_hex() {
        assert_eq!(Action::Cut { after: 12 }.to_string(), "cut-after-12");
        assert_eq!(hex(&[0, 0xab, 0x7f]), "00ab7f");
    }
}
