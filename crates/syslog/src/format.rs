//! Turning records into wire messages: the syslog header (RFC 5424 or the `syslog(3)` one),
//! then RFC 5424 structured data with a readable text, or a CEF line ([`crate::cef`]).

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::cef;
use crate::record::{
    cap, hex, ObjectRecord, RecordKind, ReportRecord, Severity, MAX_FIELD, MAX_TEXT, MAX_THREATS,
    MAX_URL,
};
use bulwark_config::syslog::{Format, Header, Transport};
use bulwark_config::SyslogConfig;

/// The SD-ID of Bulwark's structured data. 32473 is the private enterprise number reserved for
/// examples (RFC 5612): Bulwark has none registered; receivers match the name as a whole.
pub const SD_ID: &str = "bulwark@32473";

/// Which header the messages get, once `auto` is resolved against the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    Rfc5424,
    Local,
}

/// Everything fixed about the messages of one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    facility: u8,
    hostname: String,
    app_name: String,
    procid: u32,
    format: Format,
    head: Head,
}

impl Identity {
    /// The identity `cfg` gives, with the machine's host name when it names none.
    pub(crate) fn new(cfg: &SyslogConfig) -> Self {
        let hostname = if cfg.hostname.is_empty() {
            machine_hostname()
        } else {
            cfg.hostname.clone()
        };
        let head = match (cfg.header, cfg.transport) {
            (Header::Rfc5424, _) => Head::Rfc5424,
            (Header::Rfc3164, _) | (Header::Auto, Transport::Local) => Head::Local,
            (Header::Auto, _) => Head::Rfc5424,
        };
        Self {
            facility: cfg.facility.code(),
            hostname,
            app_name: cfg.app_name.clone(),
            procid: std::process::id(),
            format: cfg.format,
            head,
        }
    }

    /// The host name written in the records.
    pub(crate) fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The message for one object.
    pub(crate) fn object(&self, r: &ObjectRecord<'_>, now: OffsetDateTime) -> Vec<u8> {
        let mut m = self.header(r.kind.severity(), r.kind.msgid(), now);
        match self.format {
            Format::Cef => m.push_str(&cef::object(r, &self.hostname, now)),
            Format::Rfc5424 => {
                m.push_str(&object_sd(r));
                m.push(' ');
                m.push_str(&one_line(&object_text(r)));
            }
        }
        m.into_bytes()
    }

    /// The message for one report-log event.
    pub(crate) fn report(&self, r: &ReportRecord<'_>, now: OffsetDateTime) -> Vec<u8> {
        let mut m = self.header(r.level.severity(), RecordKind::Report.msgid(), now);
        match self.format {
            Format::Cef => m.push_str(&cef::report(r, &self.hostname, now)),
            Format::Rfc5424 => {
                m.push_str(&report_sd(r));
                m.push(' ');
                let mut text = r.message.to_string();
                for (k, v) in r.fields {
                    let _ = write!(text, " {k}={v}");
                }
                m.push_str(&one_line(cap(&text, MAX_TEXT)));
            }
        }
        m.into_bytes()
    }

    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ` (RFC 5424; CEF then gives `- ` as
    /// its structured data), or `<PRI>Mmm dd hh:mm:ss APP-NAME[PROCID]: MSGID ` on the local
    /// socket.
    fn header(&self, sev: Severity, msgid: &str, now: OffsetDateTime) -> String {
        let pri = u16::from(self.facility) * 8 + sev as u16;
        let mut h = String::with_capacity(512);
        match self.head {
            Head::Rfc5424 => {
                let _ = write!(
                    h,
                    "<{pri}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} {} {} {} ",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second(),
                    now.microsecond(),
                    self.hostname,
                    self.app_name,
                    self.procid,
                    msgid
                );
                if self.format == Format::Cef {
                    h.push_str("- ");
                }
            }
            Head::Local => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let _ = write!(
                    h,
                    "<{pri}>{} {:>2} {:02}:{:02}:{:02} {}[{}]: ",
                    MONTHS[usize::from(u8::from(now.month())) - 1],
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second(),
                    self.app_name,
                    self.procid
                );
                if self.format == Format::Rfc5424 {
                    h.push_str(msgid);
                    h.push(' ');
                }
            }
        }
        h
    }
}

/// The machine's host name, as printable ASCII (`-`, RFC 5424's NILVALUE, when unknown).
fn machine_hostname() -> String {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|n| n.into_string().ok())
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if clean.is_empty() {
        "-".into()
    } else {
        clean
    }
}

/// A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
pub(crate) fn sd_escape(v: &str, out: &mut String) {
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Adds ` name="value"` to an SD-ELEMENT.
fn param(sd: &mut String, name: &str, value: &str) {
    sd.push(' ');
    sd.push_str(name);
    sd.push_str("=\"");
    sd_escape(value, sd);
    sd.push('"');
}

/// An SD-NAME from a field name: printable ASCII but `=`, `]`, `"` and space, at most 32.
fn sd_name(name: &str) -> String {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect();
    if n.is_empty() {
        "field".into()
    } else {
        n
    }
}

/// `[bulwark@32473 protocol=… status=… threat=…* url=… client=… user=… group=… action=…
/// answer=… size=… sha256=… istag=… database=… ms=…]`; absent fields are left out.
fn object_sd(r: &ObjectRecord<'_>) -> String {
    let mut sd = String::with_capacity(512 + r.url.len().min(MAX_URL));
    sd.push('[');
    sd.push_str(SD_ID);
    param(&mut sd, "protocol", cap(r.protocol, MAX_FIELD));
    param(&mut sd, "status", cap(r.status, MAX_FIELD));
    for t in r.threats.iter().take(MAX_THREATS) {
        param(&mut sd, "threat", cap(t, MAX_FIELD));
    }
    param(&mut sd, "url", cap(r.url, MAX_URL));
    if let Some(c) = r.client {
        param(&mut sd, "client", cap(c, MAX_FIELD));
    }
    if let Some(u) = r.user {
        param(&mut sd, "user", cap(u, MAX_FIELD));
    }
    param(&mut sd, "group", cap(r.group, MAX_FIELD));
    param(&mut sd, "action", &r.action.to_string());
    param(&mut sd, "answer", cap(r.answer, MAX_FIELD));
    param(&mut sd, "size", &r.size.to_string());
    if let Some(h) = r.sha256 {
        param(&mut sd, "sha256", &hex(h));
    }
    param(&mut sd, "istag", cap(r.istag, MAX_FIELD));
    param(&mut sd, "database", cap(r.database, MAX_FIELD));
    param(&mut sd, "ms", &r.millis.to_string());
    sd.push(']');
    sd
}

/// `[bulwark@32473 level=… target=… field=…*]`.
fn report_sd(r: &ReportRecord<'_>) -> String {
    let mut sd = String::with_capacity(256);
    sd.push('[');
    sd.push_str(SD_ID);
    param(&mut sd, "level", r.level.as_str());
    param(&mut sd, "target", cap(r.target, MAX_FIELD));
    for (k, v) in r.fields {
        param(&mut sd, &sd_name(k), cap(v, MAX_FIELD));
    }
    sd.push(']');
    sd
}

/// The readable text of an object record: `infected Eicar-Test-Signature: RESPMOD
/// http://… client 10.0.0.7 user alice group default: blocked (403)`.
fn object_text(r: &ObjectRecord<'_>) -> String {
    let mut t = String::with_capacity(128 + r.url.len().min(MAX_URL));
    t.push_str(r.status);
    if !r.threats.is_empty() {
        t.push(' ');
        let names: Vec<&str> = r.threats.iter().take(MAX_THREATS).copied().collect();
        t.push_str(cap(&names.join(","), MAX_TEXT));
    }
    let _ = write!(t, ": {} {}", r.protocol, cap(r.url, MAX_URL));
    if let Some(c) = r.client {
        let _ = write!(t, " client {}", cap(c, MAX_FIELD));
    }
    if let Some(u) = r.user {
        let _ = write!(t, " user {}", cap(u, MAX_FIELD));
    }
    let _ = write!(
        t,
        " group {}: {} ({})",
        cap(r.group, MAX_FIELD),
        r.action,
        r.answer
    );
    t
}

/// Control characters (line breaks included) as spaces: the text part stays one line in the
/// receiver's files.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Action;
    use bulwark_config::syslog::Facility;

    fn record<'a>(url: &'a str, sha: Option<&'a [u8; 32]>) -> ObjectRecord<'a> {
        ObjectRecord {
            kind: RecordKind::Detection,
            protocol: "RESPMOD",
            status: "infected",
            threats: &["Eicar-Test-Signature"],
            url,
            client: Some("127.0.0.1"),
            user: None,
            group: "default",
            action: Action::Blocked,
            answer: "403",
            size: 68,
            sha256: sha,
            istag: "\"BW-1\"",
            database: "builtin-1",
            millis: 2,
        }
    }

    fn identity(header: Header, transport: Transport) -> Identity {
        Identity::new(&SyslogConfig {
            transport,
            header,
            hostname: "scan1".into(),
            facility: Facility::Local4,
            ..SyslogConfig::default()
        })
    }

    #[test]
    fn rfc5424_header_and_escaped_structured_data() {
        let now =
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("time");
        let id = identity(Header::Auto, Transport::Udp);
        let m =
            String::from_utf8(id.object(&record("http://h/a\"b]c\\d", None), now)).expect("utf-8");
        let pid = std::process::id();
        assert!(
            m.starts_with(&format!(
                "<164>1 2023-11-14T22:13:20.123456Z scan1 bulwark {pid} detection \
                 [bulwark@32473 protocol=\"RESPMOD\" status=\"infected\" threat=\
                 \"Eicar-Test-Signature\" url=\"http://h/a\\\"b\\]c\\\\d\" client=\"127.0.0.1\" \
                 group=\"default\" action=\"blocked\" answer=\"403\" size=\"68\" istag=\
                 \"\\\"BW-1\\\"\""
            )),
            "{m}"
        );
        assert!(m.ends_with(
            " infected Eicar-Test-Signature: RESPMOD http://h/a\"b]c\\d client 127.0.0.1 \
             group default: blocked (403)"
        ));
    }

    #[test]
    fn local_header_is_the_syslog3_one() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let id = identity(Header::Auto, Transport::Local);
        let m = String::from_utf8(id.object(&record("http://h/", None), now)).expect("utf-8");
        let pid = std::process::id();
        assert!(
            m.starts_with(&format!(
                "<164>Nov 14 22:13:20 bulwark[{pid}]: detection [bulwark@32473 "
            )),
            "{m}"
        );
        let forced = identity(Header::Rfc5424, Transport::Local);
        assert!(String::from_utf8(forced.object(&record("u", None), now))
            .expect("utf-8")
            .starts_with("<164>1 "));
    }

    #[test]
    fn report_fields_become_parameters_and_text() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let id = identity(Header::Auto, Transport::Tcp);
        let fields = [("file", "/etc/x".to_string()), ("bad name=", "v".into())];
        let r = ReportRecord {
            level: crate::record::Level::Warn,
            target: "bulwark_server::control",
            message: "reload refused\nsee above",
            fields: &fields,
        };
        let m = String::from_utf8(id.report(&r, now)).expect("utf-8");
        assert!(
            m.starts_with("<164>1 2023-11-14T22:13:20.000000Z scan1 bulwark "),
            "{m}"
        );
        assert!(m.contains(
            " report [bulwark@32473 level=\"WARN\" target=\"bulwark_server::control\" \
             file=\"/etc/x\" badname=\"v\"] reload refused see above file=/etc/x bad name==v"
        ));
    }
}
