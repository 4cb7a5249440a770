//! The squid.conf block that points Squid at Bulwark.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// First line of the managed block. [`crate::apply_to_text`] recognises any line starting with
/// [`BEGIN_MARKER_PREFIX`], so a later rewording of the rest of this line still matches.
pub const BEGIN_MARKER: &str =
    "# BEGIN bulwark (managed by 'bulwark squid apply'; edit outside these markers)";

/// The part of [`BEGIN_MARKER`] that identifies the start of a managed block.
pub const BEGIN_MARKER_PREFIX: &str = "# BEGIN bulwark";

/// Last line of the managed block.
pub const END_MARKER: &str = "# END bulwark";

/// Default plain ICAP address of Bulwark (its embedded default listener).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:1344";

/// Default Secure ICAP (`icaps://`) address: 11344 is the port Squid assumes for `icaps`.
pub const DEFAULT_TLS_ADDRESS: &str = "127.0.0.1:11344";

/// Default RESPMOD service path (Bulwark's embedded default).
pub const DEFAULT_RESPMOD_PATH: &str = "/av/respmod";

/// Default REQMOD service path (Bulwark's embedded default).
pub const DEFAULT_REQMOD_PATH: &str = "/av/reqmod";

/// Name of the RESPMOD `icap_service` in the generated block.
pub const RESP_SERVICE: &str = "bulwark_resp";

/// Name of the REQMOD `icap_service` in the generated block.
pub const REQ_SERVICE: &str = "bulwark_req";

/// Name of the `acl` that matches GET requests (excluded from REQMOD unless asked for).
pub const GET_ACL: &str = "bulwark_get";

/// Which squid.conf dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SquidVersion {
    /// Squid 3.0: services are activated through `icap_class` and `icap_access`, and
    /// `icap_service` takes the positional `0`/`1` bypass flag. Later versions still accept this
    /// dialect (with deprecation warnings).
    V3_0,
    /// Squid 3.1 and later: `icap_service … bypass=on|off` and `adaptation_access`.
    #[default]
    V3_1Plus,
}

impl fmt::Display for SquidVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SquidVersion::V3_0 => "3.0",
            SquidVersion::V3_1Plus => "3.1+",
        })
    }
}

impl FromStr for SquidVersion {
    type Err = SnippetError;

    /// Accepts `3.0`, `3.1+`, and any concrete version from 3.1 on (`3.1`, `3.5`, `4`, `5.7`,
    /// `6.10`…), which all mean [`SquidVersion::V3_1Plus`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t == "3.0" {
            return Ok(SquidVersion::V3_0);
        }
        if t == "3.1+" {
            return Ok(SquidVersion::V3_1Plus);
        }
        let mut parts = t.split('.');
        let major = parts.next().and_then(|m| m.parse::<u32>().ok());
        let minor = match (major, parts.next()) {
            // "3" alone is ambiguous (3.0 or 3.1+).
            (Some(3), None) => None,
            (_, None) => Some(0),
            (_, Some(m)) => m.parse::<u32>().ok(),
        };
        let rest_ok = parts.all(|p| p.parse::<u32>().is_ok());
        match (major, minor, rest_ok) {
            (Some(3), Some(0), true) => Ok(SquidVersion::V3_0),
            (Some(3), Some(_), true) => Ok(SquidVersion::V3_1Plus),
            (Some(m), Some(_), true) if m >= 4 => Ok(SquidVersion::V3_1Plus),
            _ => Err(SnippetError::Version(s.to_string())),
        }
    }
}

/// Secure ICAP (`icaps://`, Squid 4 and later) settings.
///
/// Every field is optional. Without any of them the block uses a bare `icaps://` URI: Squid then
/// verifies Bulwark's certificate against the system trust store and the host name of the URI.
/// Any `tls-*` option needs a Squid built with OpenSSL: Squid builds with GnuTLS (Debian 12's
/// Squid 5.7) reject every `tls-*` option of `icap_service` ("requires --with-openssl").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `tls-cert=`: Squid's client certificate (mutual TLS), PEM.
    pub cert: Option<PathBuf>,
    /// `tls-key=`: the key of [`TlsOptions::cert`]; without it the cert file must hold both.
    pub key: Option<PathBuf>,
    /// `tls-cafile=`: PEM CA certificate(s) that signed Bulwark's server certificate.
    pub cafile: Option<PathBuf>,
    /// `tls-domain=`: the name to expect in Bulwark's certificate, when it differs from the
    /// host of the ICAP address.
    pub domain: Option<String>,
}

impl TlsOptions {
    /// Whether any `tls-*` service option will be written (these need a Squid built with OpenSSL).
    pub fn has_service_options(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.cafile.is_some() || self.domain.is_some()
    }
}

/// What to write into squid.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetOptions {
    /// squid.conf dialect; default 3.1+.
    pub squid_version: SquidVersion,
    /// Bulwark's `HOST:PORT` (`[v6addr]:PORT` for IPv6). `None` means [`DEFAULT_ADDRESS`], or
    /// [`DEFAULT_TLS_ADDRESS`] with [`SnippetOptions::tls`].
    pub address: Option<String>,
    /// RESPMOD service path, starting with `/`; default `/av/respmod`.
    pub respmod_path: String,
    /// REQMOD service path, starting with `/`; default `/av/reqmod`.
    pub reqmod_path: String,
    /// `bypass=on`: serve objects unscanned when Bulwark is unreachable. Default off: the
    /// services are essential and Squid fails closed with its ICAP error page.
    pub bypass: bool,
    /// Send GET requests through REQMOD too. Default off (as kav4proxy's installer did).
    pub reqmod_get: bool,
    /// Secure ICAP; `None` for plain `icap://`.
    pub tls: Option<TlsOptions>,
    /// Raise `client_request_buffer_max_size` so that Squid before 6.13 does not drop uploads
    /// that an ICAP server holds until their verdict (Squid bug 5405: once the 512 KB request
    /// buffer fills, the upload dies with no answer). Set from the detected Squid version.
    pub upload_buffer_fix: bool,
}

impl Default for SnippetOptions {
    fn default() -> Self {
        SnippetOptions {
            squid_version: SquidVersion::default(),
            address: None,
            respmod_path: DEFAULT_RESPMOD_PATH.to_string(),
            reqmod_path: DEFAULT_REQMOD_PATH.to_string(),
            bypass: false,
            reqmod_get: false,
            tls: None,
            upload_buffer_fix: false,
        }
    }
}

/// Options that cannot produce a valid block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnippetError {
    /// The Squid version is not one of the accepted spellings.
    #[error("unknown Squid version {0:?}: use 3.0 or 3.1+ (or a concrete version such as 5.7)")]
    Version(String),
    /// The ICAP address is not `HOST:PORT`.
    #[error("invalid ICAP address {address:?}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A service path is unusable.
    #[error("invalid service path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A TLS option value cannot be written as one squid.conf token.
    #[error("invalid {option} value {value:?}: {reason}")]
    TlsValue {
        /// The squid.conf option (`tls-cert`…).
        option: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `tls-key` without `tls-cert`.
    #[error("tls-key needs tls-cert (the client certificate it belongs to)")]
    KeyWithoutCert,
    /// Secure ICAP was asked for with the 3.0 dialect.
    #[error("icaps:// (ICAP over TLS) needs Squid 4 or later: use --squid 3.1+")]
    TlsNeedsSquid4,
    /// The RESPMOD and REQMOD paths are the same.
    #[error("the RESPMOD and REQMOD service paths must differ")]
    SamePaths,
}

/// Characters that would split or end a squid.conf token, or start a comment.
fn bad_token_char(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '#' || c == '"' || c == '\\'
}

impl SnippetOptions {
    /// The address the block will use (the explicit one, or the scheme's default).
    pub fn effective_address(&self) -> &str {
        match (&self.address, &self.tls) {
            (Some(a), _) => a.as_str(),
            (None, Some(_)) => DEFAULT_TLS_ADDRESS,
            (None, None) => DEFAULT_ADDRESS,
        }
    }

    /// `icap` or `icaps`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "icaps"
        } else {
            "icap"
        }
    }

    /// The RESPMOD service URI.
    pub fn respmod_uri(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.effective_address(),
            self.respmod_path
        )
    }

    /// The REQMOD service URI.
    pub fn reqmod_uri(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.effective_address(),
            self.reqmod_path
        )
    }

    /// Checks that the options make a block Squid can parse. [`snippet`] does not check;
    /// [`crate::apply`] and [`crate::apply_to_text`] do.
    pub fn validate(&self) -> Result<(), SnippetError> {
        validate_address(self.effective_address())?;
        for p in [&self.respmod_path, &self.reqmod_path] {
            validate_path(p)?;
        }
        if self.respmod_path == self.reqmod_path {
            return Err(SnippetError::SamePaths);
        }
        if let Some(tls) = &self.tls {
            if self.squid_version == SquidVersion::V3_0 {
                return Err(SnippetError::TlsNeedsSquid4);
            }
            if tls.key.is_some() && tls.cert.is_none() {
                return Err(SnippetError::KeyWithoutCert);
            }
            for (option, value) in [
                ("tls-cert", &tls.cert),
                ("tls-key", &tls.key),
                ("tls-cafile", &tls.cafile),
            ] {
                if let Some(p) = value {
                    let s = p.to_str().ok_or_else(|| SnippetError::TlsValue {
                        option,
                        value: p.display().to_string(),
                        reason: "not valid UTF-8",
                    })?;
                    validate_tls_value(option, s)?;
                }
            }
            if let Some(d) = &tls.domain {
                validate_tls_value("tls-domain", d)?;
            }
        }
        Ok(())
    }
}

fn validate_address(a: &str) -> Result<(), SnippetError> {
    let err = |reason| {
        Err(SnippetError::Address {
            address: a.to_string(),
            reason,
        })
    };
    if a.chars().any(bad_token_char) || a.contains('/') || a.contains('@') {
        return err("it may not contain spaces, '/', '@', '#', quotes or backslashes");
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((h, p)) if !h.is_empty() && h.contains(':') => (h, p),
            _ => return err("write IPv6 addresses as [ADDR]:PORT"),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !h.contains(':') => (h, p),
            Some((h, _)) if h.contains(':') => return err("write IPv6 addresses as [ADDR]:PORT"),
            _ => return err("expected HOST:PORT"),
        }
    };
    if host.starts_with('[') || host.contains(']') {
        return err("unbalanced brackets");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => err("the port must be a number from 1 to 65535"),
        Ok(_) => Ok(()),
    }
}

fn validate_path(p: &str) -> Result<(), SnippetError> {
    let err = |reason| {
        Err(SnippetError::Path {
            path: p.to_string(),
            reason,
        })
    };
    if !p.starts_with('/') {
        return err("it must start with '/'");
    }
    if p.len() < 2 {
        return err("it must name a service");
    }
    if p.chars().any(|c| bad_token_char(c) || !c.is_ascii()) {
        return err(
            "it may contain only printable ASCII without spaces, '#', quotes or backslashes",
        );
    }
    Ok(())
}

fn validate_tls_value(option: &'static str, v: &str) -> Result<(), SnippetError> {
    if v.is_empty() {
        return Err(SnippetError::TlsValue {
            option,
            value: v.to_string(),
            reason: "empty",
        });
    }
    if v.chars().any(bad_token_char) {
        return Err(SnippetError::TlsValue {
            option,
            value: v.to_string(),
            reason: "squid.conf cannot hold spaces, '#', quotes or backslashes in an option value",
        });
    }
    Ok(())
}

/// The squid.conf block, wrapped in [`BEGIN_MARKER`] / [`END_MARKER`], each line ending in `\n`.
///
/// The options are not checked: call [`SnippetOptions::validate`] first (apply does).
pub fn snippet(opts: &SnippetOptions) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    let v30 = opts.squid_version == SquidVersion::V3_0;
    line(BEGIN_MARKER);
    line(&format!(
        "# Squid {} ICAP client settings for Bulwark, the anti-virus ICAP server.",
        opts.squid_version
    ));
    line("icap_enable on");
    line("# Bulwark uses X-Client-IP for per-client policy and its log.");
    line("icap_send_client_ip on");
    line("# To pass the proxy-authenticated user name (X-Client-Username) too, uncomment:");
    if v30 {
        line("# icap_send_client_username on");
    } else {
        line("# adaptation_send_username on");
    }
    line("# icap_client_username_header X-Client-Username");
    line("# Preview lets Bulwark answer small clean objects at once (it asks for 4 KiB).");
    line("icap_preview_enable on");
    line("icap_persistent_connections on");
    if opts.bypass {
        line("# Bypass on: if Bulwark is unreachable, Squid delivers objects UNSCANNED.");
    } else {
        line("# Bypass off: an essential service. If Bulwark is unreachable Squid answers with");
        line("# its ICAP error page and nothing passes unscanned (fail closed).");
    }
    if opts.tls.is_some() {
        line("# Secure ICAP (icaps://, Squid 4 and later). Without tls-cafile Squid trusts only");
        line("# the system CA store; tls-* options need a Squid built with OpenSSL.");
    }
    let tls_opts = tls_service_options(opts);
    for (name, point, uri) in [
        (RESP_SERVICE, "respmod_precache", opts.respmod_uri()),
        (REQ_SERVICE, "reqmod_precache", opts.reqmod_uri()),
    ] {
        if v30 {
            // Squid 3.0 syntax: icap_service NAME POINT BYPASS URI.
            line(&format!(
                "icap_service {name} {point} {} {uri}",
                u8::from(opts.bypass)
            ));
        } else {
            line(&format!(
                "icap_service {name} {point} bypass={}{tls_opts} {uri}",
                if opts.bypass { "on" } else { "off" }
            ));
        }
    }
    let req_rule = if opts.reqmod_get {
        line("# REQMOD (uploads) is applied to every request, GET included.");
        "allow all".to_string()
    } else {
        line("# REQMOD scans what clients upload. GET requests carry no body, so they skip the");
        line("# REQMOD round trip (downloads are still scanned by RESPMOD); this halves the ICAP");
        line("# transactions of ordinary browsing. Use --reqmod-get to send GET through REQMOD.");
        line(&format!("acl {GET_ACL} method GET"));
        format!("allow !{GET_ACL}")
    };
    if opts.upload_buffer_fix {
        line("# Bulwark holds uploads until their verdict. Squid before 6.13 drops an upload once");
        line("# its 512 KB request buffer fills while the ICAP server holds (Squid bug 5405), so");
        line("# the buffer may grow up to the largest upload that must get the block page.");
        line(&format!("client_request_buffer_max_size {UPLOAD_BUFFER}"));
    }
    if v30 {
        line("icap_class bulwark_resp_class bulwark_resp");
        line("icap_class bulwark_req_class bulwark_req");
        line("icap_access bulwark_resp_class allow all");
        line(&format!("icap_access bulwark_req_class {req_rule}"));
    } else {
        line(&format!("adaptation_access {RESP_SERVICE} allow all"));
        line(&format!("adaptation_access {REQ_SERVICE} {req_rule}"));
    }
    line(END_MARKER);
    out
}

/// `client_request_buffer_max_size` written for Squid before 6.13 (Squid bug 5405).
pub const UPLOAD_BUFFER: &str = "64 MB";

/// ` tls-cert=… tls-key=…` (with a leading space), or empty.
fn tls_service_options(opts: &SnippetOptions) -> String {
    let mut s = String::new();
    if let Some(tls) = &opts.tls {
        for (name, value) in [
            (
                "tls-cert",
                tls.cert.as_ref().map(|p| p.display().to_string()),
            ),
            ("tls-key", tls.key.as_ref().map(|p| p.display().to_string())),
            (
                "tls-cafile",
                tls.cafile.as_ref().map(|p| p.display().to_string()),
            ),
            ("tls-domain", tls.domain.clone()),
        ] {
            if let Some(v) = value {
                s.push(' ');
                s.push_str(name);
                s.push('=');
                s.push_str(&v);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    fn directives(s: &str) -> Vec<&str> {
        s.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn default_block_is_3_1_fail_closed_without_get() {
        let s = snippet(&SnippetOptions::default());
        let l = lines(&s);
        assert_eq!(l.first(), Some(&BEGIN_MARKER));
        assert_eq!(l.last(), Some(&END_MARKER));
        assert!(s.ends_with("# END bulwark\n"));
        assert_eq!(
            directives(&s),
            vec![
                "icap_enable on",
                "icap_send_client_ip on",
                "icap_preview_enable on",
                "icap_persistent_connections on",
                "icap_service bulwark_resp respmod_precache bypass=off icap://127.0.0.1:1344/av/respmod",
                "icap_service bulwark_req reqmod_precache bypass=off icap://127.0.0.1:1344/av/reqmod",
                "acl bulwark_get method GET",
                "adaptation_access bulwark_resp allow all",
                "adaptation_access bulwark_req allow !bulwark_get",
            ]
        );
        assert!(s.contains("# icap_client_username_header X-Client-Username\n"));
        assert!(s.contains("# adaptation_send_username on\n"));
        // The acl is defined before its use.
        let acl = s.find("acl bulwark_get").unwrap();
        let used = s.find("!bulwark_get").unwrap();
        assert!(acl < used);
        // The GET exclusion is explained.
        assert!(s.contains("GET requests carry no body"));
        assert!(SnippetOptions::default().validate().is_ok());
    }

    #[test]
    fn bypass_and_reqmod_get() {
        let o = SnippetOptions {
            bypass: true,
            reqmod_get: true,
            address: Some("10.0.0.5:1345".into()),
            ..Default::default()
        };
        let s = snippet(&o);
        let d = directives(&s);
        assert!(d.contains(
            &"icap_service bulwark_resp respmod_precache bypass=on icap://10.0.0.5:1345/av/respmod"
        ));
        assert!(d.contains(&"adaptation_access bulwark_req allow all"));
        assert!(!s.contains("acl bulwark_get"));
        assert!(s.contains("UNSCANNED"));
    }

    #[test]
    fn squid_3_0_dialect() {
        let o = SnippetOptions {
            squid_version: SquidVersion::V3_0,
            ..Default::default()
        };
        let s = snippet(&o);
        let d = directives(&s);
        assert!(d.contains(
            &"icap_service bulwark_resp respmod_precache 0 icap://127.0.0.1:1344/av/respmod"
        ));
        assert!(d.contains(
            &"icap_service bulwark_req reqmod_precache 0 icap://127.0.0.1:1344/av/reqmod"
        ));
        assert!(d.contains(&"icap_class bulwark_resp_class bulwark_resp"));
        assert!(d.contains(&"icap_access bulwark_req_class allow !bulwark_get"));
        assert!(!s.contains("adaptation_access"));
        assert!(s.contains("# icap_send_client_username on"));
        let b = snippet(&SnippetOptions { bypass: true, ..o });
        assert!(b.contains("respmod_precache 1 icap://"));
    }

    #[test]
    fn tls_block() {
        let o = SnippetOptions {
            tls: Some(TlsOptions {
                cert: Some("/etc/squid/icap-client.pem".into()),
                key: Some("/etc/squid/icap-client.key".into()),
                cafile: Some("/etc/squid/bulwark-ca.pem".into()),
                domain: None,
            }),
            ..Default::default()
        };
        assert!(o.validate().is_ok());
        let s = snippet(&o);
        assert!(s.contains(
            "icap_service bulwark_resp respmod_precache bypass=off tls-cert=/etc/squid/icap-client.pem \
             tls-key=/etc/squid/icap-client.key tls-cafile=/etc/squid/bulwark-ca.pem \
             icaps://127.0.0.1:11344/av/respmod\n"
        ));
        let bare = snippet(&SnippetOptions {
            tls: Some(TlsOptions::default()),
            address: Some("icap.example.org:2000".into()),
            ..Default::default()
        });
        assert!(bare.contains(
            "icap_service bulwark_req reqmod_precache bypass=off icaps://icap.example.org:2000/av/reqmod\n"
        ));
    }

    #[test]
    fn validation() {
        let bad_addr = |a: &str| SnippetOptions {
            address: Some(a.into()),
            ..Default::default()
        };
        for a in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":1344",
            "host :1344",
            "::1:1344",
            "[::1]",
            "a/b:1",
            "x#y:1344",
        ] {
            assert!(
                matches!(bad_addr(a).validate(), Err(SnippetError::Address { .. })),
                "{a}"
            );
        }
        for a in ["[::1]:1344", "icap.example.org:1344", "127.0.0.1:1"] {
            assert!(bad_addr(a).validate().is_ok(), "{a}");
        }
        let p = SnippetOptions {
            respmod_path: "av/respmod".into(),
            ..Default::default()
        };
        assert!(matches!(p.validate(), Err(SnippetError::Path { .. })));
        let p = SnippetOptions {
            reqmod_path: "/av/respmod".into(),
            ..Default::default()
        };
        assert_eq!(p.validate(), Err(SnippetError::SamePaths));
        let t = SnippetOptions {
            squid_version: SquidVersion::V3_0,
            tls: Some(TlsOptions::default()),
            ..Default::default()
        };
        assert_eq!(t.validate(), Err(SnippetError::TlsNeedsSquid4));
        let t = SnippetOptions {
            tls: Some(TlsOptions {
                key: Some("/k".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(t.validate(), Err(SnippetError::KeyWithoutCert));
        let t = SnippetOptions {
            tls: Some(TlsOptions {
                cafile: Some("/my certs/ca.pem".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(t.validate(), Err(SnippetError::TlsValue { .. })));
    }

    #[test]
    fn versions() {
        for (s, v) in [
            ("3.0", SquidVersion::V3_0),
            ("3.0.21", SquidVersion::V3_0),
            ("3.1+", SquidVersion::V3_1Plus),
            ("3.1", SquidVersion::V3_1Plus),
            ("3.5.27", SquidVersion::V3_1Plus),
            ("4", SquidVersion::V3_1Plus),
            ("5.7", SquidVersion::V3_1Plus),
            ("6.10", SquidVersion::V3_1Plus),
        ] {
            assert_eq!(s.parse::<SquidVersion>(), Ok(v), "{s}");
        }
        for s in ["2.7", "", "x", "3", "3.1-", "3.x"] {
            assert!(s.parse::<SquidVersion>().is_err(), "{s}");
        }
        assert_eq!(SquidVersion::V3_1Plus.to_string(), "3.1+");
    }
}
