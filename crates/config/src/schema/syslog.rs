//! `[log.syslog]` in `bulwark.toml`: plain data with a default for every key;
//! [`SyslogConfig::validate`] checks it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::KeyProblem;

/// How messages reach the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Nothing is sent (the default).
    Off,
    /// The local syslog socket (`socket`, `/dev/log`): one Unix datagram per message.
    Local,
    /// UDP to `address`: one datagram per message (RFC 5426).
    Udp,
    /// TCP to `address`, octet-counting framing (RFC 6587 §3.4.1), reconnected with backoff.
    Tcp,
}

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The fields as RFC 5424 structured data (`[bulwark@32473 …]`) and a readable text.
    Rfc5424,
    /// An ArcSight Common Event Format line as the message, for SIEMs.
    Cef,
}

/// The syslog header in front of each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Header {
    /// RFC 5424 over UDP and TCP; on the local socket the header `syslog(3)` writes, the only
    /// one journald and rsyslog's default socket parser read.
    Auto,
    /// Always RFC 5424 (on the local socket: for rsyslog with `useSpecialParser="off"`).
    Rfc5424,
    /// Always the `syslog(3)` header (`<PRI>Mmm dd hh:mm:ss APP[PID]: `), no host name.
    Rfc3164,
}

/// The syslog facility of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Facility {
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's code (RFC 5424 §6.2.1).
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// Which per-object records are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objects {
    /// Every object, clean ones included (as `av.stats` has them).
    All,
    /// Objects that were not clean: detections, blocks without a scan, failed scans.
    Detections,
    /// None (the report log alone, when `report` is on).
    Off,
}

/// `[log.syslog]`: central logs. Per-object records (threat, URL, client, user, group,
/// action, size, SHA-256 of the object, ISTag, database) and the report log go to a syslog
/// receiver, as RFC 5424 or CEF, through a bounded queue: a slow or absent receiver costs
/// dropped messages (counted on `/metrics`), never a slower or failed transaction.
///
/// ```toml
/// [log.syslog]
/// transport = "udp"            # off, local, udp, tcp
/// address = "10.0.0.5:514"
/// format = "cef"               # rfc5424, cef
/// facility = "local4"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyslogConfig {
    /// `off` (default), `local` (the `socket`), `udp` or `tcp` (to `address`; TCP frames each
    /// message with its length, RFC 6587 octet counting).
    pub transport: Transport,
    /// The receiver for `udp` and `tcp`: `host:port` (`192.0.2.7:514`, `[2001:db8::7]:514`,
    /// `logs.example.com:6514`); a name is resolved again at every reconnection.
    pub address: String,
    /// The socket for `local`: `/dev/log` (journald's or rsyslog's).
    pub socket: PathBuf,
    /// `rfc5424` (default): the fields as structured data beside a readable text; `cef`: one
    /// ArcSight CEF line per message, for SIEMs.
    pub format: Format,
    /// `auto` (default): an RFC 5424 header over UDP and TCP, and on the local socket the one
    /// `syslog(3)` writes (journald and rsyslog's default socket parser read no other);
    /// `rfc5424` or `rfc3164` force one everywhere.
    pub header: Header,
    /// The facility: `daemon` (default), `user`, `mail`, `auth`, `authpriv`, `syslog`, `lpr`,
    /// `news`, `uucp`, `cron`, `ftp`, `local0` … `local7`.
    pub facility: Facility,
    /// APP-NAME of every message (at most 48 printable ASCII characters).
    pub app_name: String,
    /// HOSTNAME of every message; empty (default): the machine's host name.
    pub hostname: String,
    /// Per-object records to send: `all` (default), `detections` (all but clean objects) or
    /// `off`. While they are on, the SHA-256 of each object read to its end is computed (about
    /// 1 ms per MB); objects blocked before their body have none.
    pub objects: Objects,
    /// Also send the report log (the daemon's own messages, at `log.level`).
    pub report: bool,
    /// Messages waiting to be sent; when it is full (receiver slow or down), new messages are
    /// dropped and counted, never waited for.
    pub queue: usize,
    /// Seconds a TCP connection or write may take before the receiver counts as down (the
    /// message is dropped and the connection retried with backoff, 0.1 s doubling to 30 s).
    pub timeout_secs: u64,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            transport: Transport::Off,
            address: String::new(),
            socket: PathBuf::from("/dev/log"),
            format: Format::Rfc5424,
            header: Header::Auto,
            facility: Facility::Daemon,
            app_name: "bulwark".into(),
            hostname: String::new(),
            objects: Objects::All,
            report: true,
            queue: 10_000,
            timeout_secs: 5,
        }
    }
}

fn err(key: &str, message: impl Into<String>) -> KeyProblem {
    KeyProblem::new(format!("log.syslog.{key}"), message)
}

impl SyslogConfig {
    /// True when messages are sent somewhere.
    pub fn is_enabled(&self) -> bool {
        self.transport != Transport::Off
    }

    /// Checks every key; returns all problems found. Looks at neither the network nor the
    /// file system (the receiver may start later).
    pub fn validate(&self) -> Result<(), Vec<KeyProblem>> {
        let mut errors = Vec::new();
        if matches!(self.transport, Transport::Udp | Transport::Tcp) {
            if let Err(m) = split_host_port(&self.address) {
                errors.push(err("address", format!("`{}`: {m}", self.address)));
            }
        }
        if self.transport == Transport::Local && !self.socket.is_absolute() {
            errors.push(err(
                "socket",
                format!("`{}`: must be an absolute path", self.socket.display()),
            ));
        }
        if self.app_name.is_empty() || self.app_name.len() > 48 || !printable(&self.app_name) {
            errors.push(err(
                "app_name",
                format!(
                    "`{}`: 1 to 48 printable ASCII characters, no spaces",
                    self.app_name
                ),
            ));
        }
        if self.hostname.len() > 255 || !printable(&self.hostname) {
            errors.push(err(
                "hostname",
                format!(
                    "`{}`: at most 255 printable ASCII characters, no spaces",
                    self.hostname
                ),
            ));
        }
        if self.queue == 0 {
            errors.push(err("queue", "must be at least 1"));
        }
        if self.timeout_secs == 0 {
            errors.push(err("timeout_secs", "must be at least 1"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Printable US-ASCII without space (RFC 5424's PRINTUSASCII).
pub fn printable(s: &str) -> bool {
    s.bytes().all(|b| (33..=126).contains(&b))
}

/// `host:port` → (host, port); a bracketed IPv6 host loses its brackets.
pub fn split_host_port(addr: &str) -> Result<(&str, u16), &'static str> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or("expected host:port (e.g. 192.0.2.7:514)")?;
    let port: u16 = port.parse().map_err(|_| "the port is not a number")?;
    if port == 0 {
        return Err("the port must not be 0");
    }
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or("unbalanced `[`")?,
        None if host.contains(':') => return Err("write an IPv6 address in brackets: [::1]:514"),
        None => host,
    };
    if host.is_empty() || !printable(host) {
        return Err("missing or malformed host");
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_from_empty_toml_and_are_off() {
        let c: SyslogConfig = toml::from_str("").expect("parses");
        assert_eq!(c, SyslogConfig::default());
        assert!(!c.is_enabled());
        assert!(c.validate().is_ok());
        let text = toml::to_string(&c).expect("serialises");
        assert_eq!(toml::from_str::<SyslogConfig>(&text).expect("parses"), c);
    }

    #[test]
    fn keys_parse() {
        let c: SyslogConfig = toml::from_str(
            "transport = \"tcp\"\naddress = \"[::1]:6514\"\nformat = \"cef\"\nheader = \
             \"rfc3164\"\nfacility = \"local4\"\nobjects = \"detections\"\n",
        )
        .expect("parses");
        assert_eq!(c.transport, Transport::Tcp);
        assert_eq!((c.format, c.header), (Format::Cef, Header::Rfc3164));
        assert_eq!(c.facility.code(), 20);
        assert_eq!(c.objects, Objects::Detections);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validate_reports_every_bad_key() {
        let c = SyslogConfig {
            transport: Transport::Udp,
            address: "::1:514".into(),
            app_name: "bul wark".into(),
            hostname: "a b".into(),
            queue: 0,
            timeout_secs: 0,
            ..SyslogConfig::default()
        };
        let keys: Vec<String> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "log.syslog.address",
                "log.syslog.app_name",
                "log.syslog.hostname",
                "log.syslog.queue",
                "log.syslog.timeout_secs"
            ]
        );
        let local = SyslogConfig {
            transport: Transport::Local,
            socket: "dev/log".into(),
            ..SyslogConfig::default()
        };
        assert_eq!(local.validate().unwrap_err()[0].key, "log.syslog.socket");
    }

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:514"), Ok(("127.0.0.1", 514)));
        assert_eq!(split_host_port("[::1]:514"), Ok(("::1", 514)));
        assert_eq!(
            split_host_port("logs.example:6514"),
            Ok(("logs.example", 6514))
        );
        for bad in ["", "host", ":514", "h:0", "h:x", "::1:514", "[::1:514"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
