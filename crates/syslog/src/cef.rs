//! ArcSight Common Event Format lines:
//! `CEF:0|Bulwark|Bulwark|VERSION|signatureId|name|severity|extension`.
//!
//! Header fields escape `\` and `|` (line breaks become spaces: the header is one line);
//! extension values escape `\`, `=` and line breaks (`\n`, `\r`). The extension uses the
//! standard keys: `rt` (epoch ms), `dvchost`, `app` (ICAP method, `CLAMD`, `API`), `cat`
//! (record kind), `src` (IPv4 client), `c6a2` (IPv6 client), `shost` (a client that is no
//! address), `suser`, `request` (URL), `act`, `fileHash` (SHA-256), `fsize`, and labelled
//! custom strings: `cs1` group, `cs2` threats, `cs3` answer, `cs4` ISTag, `cs5` database,
//! `cn1` scan milliseconds.

use std::fmt::Write as _;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::record::{
    cap, hex, ObjectRecord, RecordKind, ReportRecord, MAX_FIELD, MAX_TEXT, MAX_THREATS, MAX_URL,
};

/// The product version in the header.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A header field: `\` → `\\`, `|` → `\|`, line breaks → space.
pub fn escape_header(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// An extension value: `\` → `\\`, `=` → `\=`, CR → `\r`, LF → `\n`.
pub fn escape_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Builds a line: the header, then `key=value` pairs separated by spaces.
struct Line(String);

impl Line {
    fn new(signature: &str, name: &str, severity: u8) -> Self {
        let mut s = String::with_capacity(512);
        let _ = write!(s, "CEF:0|Bulwark|Bulwark|{VERSION}|");
        escape_header(signature, &mut s);
        s.push('|');
        escape_header(name, &mut s);
        let _ = write!(s, "|{severity}|");
        Line(s)
    }

    fn ext(&mut self, key: &str, value: &str) {
        if !self.0.ends_with('|') {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
        escape_value(value, &mut self.0);
    }

    fn labelled(&mut self, key: &str, label: &str, value: &str) {
        self.ext(&format!("{key}Label"), label);
        self.ext(key, value);
    }
}

/// The CEF line of one object.
pub(crate) fn object(r: &ObjectRecord<'_>, hostname: &str, now: OffsetDateTime) -> String {
    let name = match r.kind {
        RecordKind::Clean => "clean object".to_string(),
        RecordKind::Detection => r
            .threats
            .first()
            .map(|t| cap(t, MAX_FIELD).to_string())
            .unwrap_or_else(|| format!("{} object", r.status)),
        RecordKind::Blocked => format!("object blocked without a scan ({})", r.status),
        RecordKind::Incomplete | RecordKind::Report => {
            format!("object not fully scanned ({})", r.status)
        }
    };
    let mut l = Line::new(cap(r.status, MAX_FIELD), &name, r.kind.cef_severity());
    l.ext("rt", &(now.unix_timestamp_nanos() / 1_000_000).to_string());
    l.ext("dvchost", hostname);
    l.ext("app", cap(r.protocol, MAX_FIELD));
    l.ext("cat", r.kind.msgid());
    if let Some(c) = r.client {
        match c.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => l.ext("src", &a.to_string()),
            Ok(IpAddr::V6(a)) => l.labelled("c6a2", "Source IPv6 Address", &a.to_string()),
            Err(_) => l.ext("shost", cap(c, MAX_FIELD)),
        }
    }
    if let Some(u) = r.user {
        l.ext("suser", cap(u, MAX_FIELD));
    }
    l.ext("request", cap(r.url, MAX_URL));
    l.ext("act", &r.action.to_string());
    if let Some(h) = r.sha256 {
        l.ext("fileHash", &hex(h));
    }
    l.ext("fsize", &r.size.to_string());
    l.labelled("cs1", "group", cap(r.group, MAX_FIELD));
    if !r.threats.is_empty() {
        let names: Vec<&str> = r.threats.iter().take(MAX_THREATS).copied().collect();
        l.labelled("cs2", "threats", cap(&names.join(","), MAX_TEXT));
    }
    l.labelled("cs3", "answer", cap(r.answer, MAX_FIELD));
    l.labelled("cs4", "istag", cap(r.istag, MAX_FIELD));
    l.labelled("cs5", "database", cap(r.database, MAX_FIELD));
    l.labelled("cn1", "scanMillis", &r.millis.to_string());
    l.0
}

/// The CEF line of one report-log message (signature `report`, the text as its name).
pub(crate) fn report(r: &ReportRecord<'_>, hostname: &str, now: OffsetDateTime) -> String {
    let mut l = Line::new("report", cap(r.message, MAX_FIELD), r.level.cef_severity());
    l.ext("rt", &(now.unix_timestamp_nanos() / 1_000_000).to_string());
    l.ext("dvchost", hostname);
    l.ext("cat", "report");
    l.labelled("cs1", "level", r.level.as_str());
    l.labelled("cs2", "target", cap(r.target, MAX_FIELD));
    let mut msg = r.message.to_string();
    for (k, v) in r.fields {
        let _ = write!(msg, " {k}={v}");
    }
    l.ext("msg", cap(&msg, MAX_TEXT));
    l.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Action;

    #[test]
    fn escapes() {
        let mut h = String::new();
        escape_header("a|b\\c=d\ne", &mut h);
        assert_eq!(h, "a\\|b\\\\c=d e");
        let mut v = String::new();
        escape_value("a|b\\c=d\r\ne", &mut v);
        assert_eq!(v, "a|b\\\\c\\=d\\r\\ne");
    }

    #[test]
    fn object_line() {
        let sha = [0x11u8; 32];
        let r = ObjectRecord {
            kind: RecordKind::Detection,
            protocol: "RESPMOD",
            status: "infected",
            threats: &["Eicar|Test"],
            url: "http://h/?a=b|c",
            client: Some("::1"),
            user: Some("dom\\alice"),
            group: "default",
            action: Action::Blocked,
            answer: "403",
            size: 68,
            sha256: Some(&sha),
            istag: "\"BW-1\"",
            database: "builtin-1",
            millis: 3,
        };
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let l = object(&r, "scan1", now);
        let want = format!(
            "CEF:0|Bulwark|Bulwark|{VERSION}|infected|Eicar\\|Test|8|rt=1700000000000 \
             dvchost=scan1 app=RESPMOD cat=detection c6a2Label=Source IPv6 Address c6a2=::1 \
             suser=dom\\\\alice request=http://h/?a\\=b|c act=blocked fileHash={} fsize=68 \
             cs1Label=group cs1=default cs2Label=threats cs2=Eicar|Test cs3Label=answer cs3=403 \
             cs4Label=istag cs4=\"BW-1\" cs5Label=database cs5=builtin-1 cn1Label=scanMillis \
             cn1=3",
            "11".repeat(32)
        );
        assert_eq!(l, want);
    }
}
