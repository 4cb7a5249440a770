//! Checking: the semantic checks of a parsed configuration, and locating keys in the text
//! (loading itself is in `load`).

use std::fmt;
use std::path::PathBuf;

use crate::Config;

/// One message about the configuration, located when possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of the key or error, when known.
    pub line: Option<usize>,
    /// The dotted key path, when the message is about one key (`server.listen`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A problem with one key, under its dotted path (`notify.webhook`, `policy.group.1.urls`;
/// array indexes count from 0 in file order): an error or a warning, as the list holding it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyProblem {
    /// Dotted path of the key concerned.
    pub key: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl KeyProblem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What the checks that need compiled objects found (a policy's regexes and templates…). They
/// run in the crates that compile those objects; the loader places each finding on its line
/// beside its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Problems that make the configuration unusable.
    pub errors: Vec<KeyProblem>,
    /// Problems worth a warning; the configuration is usable.
    pub warnings: Vec<KeyProblem>,
}

impl Findings {
    /// Adds `other`'s findings to these.
    pub fn extend(&mut self, other: Findings) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// The checks that need compiled objects: given a parsed configuration, what compiling its
/// sections finds. `bulwark_server::Snapshot::check` is the complete set; [`no_compiled_checks`]
/// checks the plain data only.
pub type CompiledChecks<'a> = &'a dyn Fn(&Config) -> Findings;

/// Checks nothing beyond the plain data (for tools that do not build the snapshot).
pub fn no_compiled_checks(_: &Config) -> Findings {
    Findings::default()
}

/// A configuration that loaded, with the warnings to show.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// Unknown keys and dubious values; the configuration is usable.
    pub warnings: Vec<Diagnostic>,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid; every problem found is listed (and the warnings beside them).
    #[error("{origin}: invalid configuration ({} error(s)):\n{}{}", .errors.len(), list(.errors),
        if .warnings.is_empty() { String::new() } else { format!("\nwarnings:\n{}", list(.warnings)) })]
    Invalid {
        /// Where the text came from (a path or `<string>`).
        origin: String,
        /// The problems, each with its line, in line order.
        errors: Vec<Diagnostic>,
        /// What would only have been warned about.
        warnings: Vec<Diagnostic>,
    },
}

fn list(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Semantic checks of the plain data; `report(key, message, fatal)`.
pub(crate) fn validate(c: &Config, report: &mut dyn FnMut(&str, String, bool)) {
    for (i, pair) in c.clamd.listener_group_pairs().enumerate() {
        let entry = &c.clamd.listener_groups[i];
        match pair {
            None => report(
                "clamd.listener_groups",
                format!("`{entry}` is not `LISTEN ENTRY = GROUP`"),
                true,
            ),
            Some((listener, _)) if !c.clamd.listen.iter().any(|l| l == listener) => report(
                "clamd.listener_groups",
                format!("`{listener}` is not one of clamd.listen"),
                true,
            ),
            Some((_, "")) => report(
                "clamd.listener_groups",
                format!("`{entry}` needs a group name"),
                true,
            ),
            Some(_) => {}
        }
    }
    let s = &c.server;
    if s.listen.is_empty() {
        report(
            "server.listen",
            "at least one address is needed".into(),
            true,
        );
    }
    for (key, paths) in [
        ("server.respmod_paths", &s.respmod_paths),
        ("server.reqmod_paths", &s.reqmod_paths),
    ] {
        if paths.is_empty() {
            report(key, "at least one service path is needed".into(), true);
        }
        for p in paths {
            if !p.starts_with('/') || p.contains(char::is_whitespace) {
                report(
                    key,
                    format!("`{p}` must start with / and hold no spaces"),
                    true,
                );
            }
        }
    }
    if let Some(p) = s.respmod_paths.iter().find(|p| s.reqmod_paths.contains(p)) {
        report(
            "server.reqmod_paths",
            format!("`{p}` is also a RESPMOD path"),
            true,
        );
    }
    if s.max_connections == 0 {
        report("server.max_connections", "must be at least 1".into(), true);
    }
    if s.max_connections_per_client > s.max_connections {
        report(
            "server.max_connections_per_client",
            format!(
                "{} is above server.max_connections ({}): one client can take every \
                 connection (0 means three quarters of max_connections)",
                s.max_connections_per_client, s.max_connections
            ),
            false,
        );
    }
    if s.max_header_bytes < 1024 {
        report(
            "server.max_header_bytes",
            "must be at least 1024".into(),
            true,
        );
    }
    for (key, v) in [
        ("server.read_timeout_secs", s.read_timeout_secs),
        ("server.idle_timeout_secs", s.idle_timeout_secs),
        ("server.head_timeout_secs", s.head_timeout_secs),
    ] {
        if v == 0 {
            report(key, "must be at least 1".into(), true);
        }
    }
    let a = &c.answer;
    if a.holdback_bytes < 4096 {
        report(
            "answer.holdback_bytes",
            "must be at least 4096 (an infected object is never delivered whole)".into(),
            true,
        );
    }
    if a.max_hold_bytes == 0 {
        report("answer.max_hold_bytes", "must be at least 1".into(), true);
    } else if a.max_hold_bytes + a.holdback_bytes >= 64 * 1024 {
        report(
            "answer.max_hold_bytes",
            "with holdback_bytes it reaches 64 KiB: right for Squid 6.9 and later, but Squid 5.7 \
             (Debian 12) stalls such bodies (bug 5352); `bulwark squid snippet` tells which \
             Squid you run"
                .into(),
            false,
        );
    }
    let t = &c.tls;
    if !t.listen.is_empty() {
        if t.cert.is_none() {
            report(
                "tls.cert",
                "a certificate is needed when tls.listen is set".into(),
                true,
            );
        }
        if t.key.is_none() {
            report(
                "tls.key",
                "a private key is needed when tls.listen is set".into(),
                true,
            );
        }
    }
    for n in &c.access.allow {
        if parse_net(n).is_none() {
            report(
                "access.allow",
                format!("`{n}` is not an address or network (e.g. 10.0.0.0/8, ::1)"),
                true,
            );
        }
    }
    if a.mode == crate::AnswerMode::Trickle
        && (a.trickle_bytes == 0 || a.trickle_interval_secs == 0)
    {
        report(
            "answer.trickle_bytes",
            "trickle mode needs trickle_bytes and trickle_interval_secs above 0".into(),
            true,
        );
    }
    crate::schema::validate_cluster(&c.cluster, report);
    if let Err(errs) = c.notify.validate() {
        for e in errs {
            report(&e.key, e.message, true);
        }
    }
    if let Err(errs) = c.log.syslog.validate() {
        for e in errs {
            report(&e.key, e.message, true);
        }
    }
    if c.license.required && c.license.trusted_keys.is_empty() {
        report(
            "license.trusted_keys",
            "required = true needs at least one trusted issuer key".into(),
            true,
        );
    }
    if !["error", "warn", "info", "debug", "trace"].contains(&c.log.level.as_str()) {
        report(
            "log.level",
            format!(
                "`{}`: expected error, warn, info, debug or trace",
                c.log.level
            ),
            true,
        );
    }
    if !["text", "json"].contains(&c.log.format.as_str()) {
        report(
            "log.format",
            format!("`{}`: expected text or json", c.log.format),
            true,
        );
    }
    exposure(c, report);
    // Cure needs the object whole before anything is sent. In partial mode only objects that
    // fit in max_hold_bytes are held whole; a larger infected object is cut off instead.
    if a.mode == crate::AnswerMode::Partial {
        let groups = std::iter::once((String::from("policy.default"), &c.policy.default_group))
            .chain(
                c.policy
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (format!("policy.group.{i}"), g)),
            );
        for (key, g) in groups {
            if g.engine.cure {
                report(
                    &format!("{key}.engine.cure"),
                    format!(
                        "in partial mode a cured copy replaces only objects of at most {} bytes \
                         (answer.max_hold_bytes); larger infected objects are cut off mid-stream",
                        a.max_hold_bytes
                    ),
                    false,
                );
            }
        }
    }
}

/// Shortest console bearer token accepted (a guessable token is a password anyone may try).
const MIN_TOKEN_CHARS: usize = 16;

/// The scanning API: a token (of [`MIN_TOKEN_CHARS`] at least) whenever it listens.
fn api_exposure(api: &crate::ApiConfig, report: &mut dyn FnMut(&str, String, bool)) {
    if let Some(t) = &api.token {
        if t.trim().chars().count() < MIN_TOKEN_CHARS {
            report(
                "api.token",
                format!(
                    "a bearer token needs at least {MIN_TOKEN_CHARS} characters (e.g. `openssl \
                     rand -hex 24`)"
                ),
                true,
            );
        }
    }
    if !api.listen.is_empty() && api.token.is_none() && api.token_file.is_none() {
        report(
            "api.listen",
            "the scanning API needs a bearer token: set api.token or api.token_file".into(),
            true,
        );
    }
    if api.listen.iter().any(|a| !a.ip().is_loopback()) {
        report(
            "api.listen",
            "the scanning API listens beyond loopback over plain HTTP: its token crosses the \
             network in clear; keep it on 127.0.0.1 or put a TLS proxy in front"
                .into(),
            false,
        );
    }
}

/// What a careless configuration exposes: listeners off loopback without protection, weak
/// console tokens, scripts that do not exist.
fn exposure(c: &Config, report: &mut dyn FnMut(&str, String, bool)) {
    let open = |a: &std::net::SocketAddr| !a.ip().is_loopback();
    if c.server.listen.iter().any(open) && c.access.allow.is_empty() {
        report(
            "server.listen",
            "ICAP listens beyond loopback and [access] allow is empty: any host that reaches \
             the port can use the scanner; list your proxies in access.allow"
                .into(),
            false,
        );
    }
    if c.metrics.listen.iter().any(open) {
        report(
            "metrics.listen",
            "the metrics endpoint has no authentication and listens beyond loopback: keep it on \
             127.0.0.1 or an admin network"
                .into(),
            false,
        );
    }
    let con = &c.console;
    if con.listen.iter().any(open) && (con.tls_cert.is_none() || con.tls_key.is_none()) {
        report(
            "console.listen",
            "the web console listens beyond loopback over plain HTTP: passwords and session \
             cookies cross the network in clear; set console.tls_cert and console.tls_key"
                .into(),
            false,
        );
    }
    if let Some(t) = &con.token {
        if t.trim().chars().count() < MIN_TOKEN_CHARS {
            report(
                "console.token",
                format!(
                    "a bearer token needs at least {MIN_TOKEN_CHARS} characters (e.g. `openssl \
                     rand -hex 24`)"
                ),
                true,
            );
        }
    }
    api_exposure(&c.api, report);
    if let Some(script) = &c.notify.script {
        match std::fs::metadata(script) {
            Err(e) => report(
                "notify.script",
                format!("{}: {e}: notifications would fail", script.display()),
                false,
            ),
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                if m.permissions().mode() & 0o111 == 0 {
                    report(
                        "notify.script",
                        format!("{} is not executable", script.display()),
                        false,
                    );
                }
            }
        }
    }
}

/// Parses an allowed network: CIDR (`10.0.0.0/8`) or a single address.
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line where a dotted key (`server.listen`, `a.b.0.c`) is written, if it is.
pub(crate) fn key_line(
    doc: &toml_edit::ImDocument<&str>,
    text: &str,
    dotted: &str,
) -> Option<usize> {
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut line = None;
    let mut segs = dotted.split('.');
    while let Some(seg) = segs.next() {
        let Some((key, item)) = table.get_key_value(seg) else {
            break;
        };
        line = key.span().map(|s| line_of(text, s.start)).or(line);
        // `[[a.b]]` tables are addressed by index: `a.b.1.c`.
        let next = match item {
            toml_edit::Item::ArrayOfTables(a) => {
                let t = segs
                    .next()
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| a.get(i));
                if let Some(t) = t {
                    line = t.span().map(|s| line_of(text, s.start)).or(line);
                }
                t.map(|t| t as &dyn toml_edit::TableLike)
            }
            _ => item.as_table_like(),
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_str, load_str_with, Strictness};

    /// The errors of a configuration text (none when it loads).
    fn errs(text: &str) -> Vec<String> {
        match load_str(text, "f") {
            Err(ConfigError::Invalid { errors, .. }) => {
                errors.iter().map(|d| d.to_string()).collect()
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn exposure_is_warned_and_weak_tokens_refused() {
        let text = "[server]\nlisten = [\"0.0.0.0:1344\"]\n[metrics]\nlisten = \
                    [\"0.0.0.0:9100\"]\n[console]\nlisten = [\"0.0.0.0:9344\"]\ntoken = \
                    \"x\"\n[notify]\nscript = \"/nonexistent/notify.sh\"\n";
        let e = load_str(text, "f").unwrap_err();
        let ConfigError::Invalid {
            errors, warnings, ..
        } = e
        else {
            panic!("not invalid")
        };
        let errs: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("line 7: console.token: a bearer token needs at least 16"),
            "{errs:?}"
        );
        let keys: Vec<&str> = warnings.iter().filter_map(|d| d.key.as_deref()).collect();
        for k in [
            "server.listen",
            "metrics.listen",
            "console.listen",
            "notify.script",
        ] {
            assert!(keys.contains(&k), "no warning for {k}: {warnings:?}");
        }
        // On loopback, with a long token: nothing to say.
        let ok = "[console]\nlisten = [\"127.0.0.1:9344\"]\ntoken = \
                  \"0123456789abcdef0123\"\n";
        let l = load_str(ok, "f").expect("loads");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn clamd_listener_groups_name_listen_entries() {
        let e = errs(
            "[clamd]\nlisten = [\"/run/a.sock\"]\nlistener_groups = [\"/run/b.sock = mail\"]\n",
        );
        assert!(
            e.iter()
                .any(|e| e.contains("`/run/b.sock` is not one of clamd.listen")),
            "{e:?}"
        );
        let ok =
            "[clamd]\nlisten = [\"/run/a.sock\"]\nlistener_groups = [\"/run/a.sock = mail\"]\n";
        assert!(load_str(ok, "f").is_ok());
    }

    #[test]
    fn api_needs_a_long_token() {
        let none = errs("[api]\nlisten = [\"127.0.0.1:8344\"]\n");
        assert!(
            none.iter()
                .any(|e| e.contains("api.listen: the scanning API needs")),
            "{none:?}"
        );
        let short = errs("[api]\nlisten = [\"127.0.0.1:8344\"]\ntoken = \"short\"\n");
        assert!(
            short
                .iter()
                .any(|e| e.contains("api.token: a bearer token")),
            "{short:?}"
        );
        let ok = "[api]\nlisten = [\"127.0.0.1:8344\"]\ntoken = \"0123456789abcdef0123\"\n";
        let l = load_str(ok, "f").expect("loads");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn empty_text_is_the_default() {
        let l = load_str("", "t").expect("loads");
        assert_eq!(l.config, Config::default());
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn unknown_keys_warn_with_their_line_when_lenient() {
        let text = "[server]\nlisten = [\"127.0.0.1:2000\"]\nlistn = 3\n\n[nosuch]\nx = 1\n";
        let l = load_str_with(text, "t", Strictness::Lenient, &crate::no_compiled_checks)
            .expect("loads");
        assert_eq!(l.config.server.listen[0].port(), 2000);
        let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
        assert!(
            w.contains(
                &"line 3: server.listn: unknown key (ignored); did you mean `server.listen`?"
                    .to_string()
            ),
            "{w:?}"
        );
        assert!(w.iter().any(|s| s.starts_with("line 5: nosuch")), "{w:?}");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_suggestion() {
        let text = "[engine]\ndatabse = [\"/var/lib/clamav\"]\n[server]\nread_timeout = 5\n";
        let e = load_str(text, "bulwark.toml").unwrap_err();
        let ConfigError::Invalid { errors, .. } = &e else {
            panic!("not invalid: {e}")
        };
        let msgs: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "line 2: engine.databse: unknown key; did you mean `engine.database`?".to_string(),
                "line 4: server.read_timeout: unknown key; did you mean \
                 `server.read_timeout_secs`?"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn every_error_of_a_file_in_one_pass_in_plain_words() {
        let text = "[server]\nmax_connections = \"120\"\nread_timeout_secs = true\n\
                    [answer]\nmode = \"fast\"\nholdback_bytes = 100\n[engine]\ndatabse = []\n";
        let e = load_str(text, "f.toml").unwrap_err();
        let ConfigError::Invalid { errors, .. } = &e else {
            panic!("not invalid: {e}")
        };
        let msgs: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(errors.len(), 5, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(
                "line 2: server.max_connections: expected a whole number (no quotes), \
                 found the text \"120\""
            ),
            "{msgs:#?}"
        );
        assert!(
            msgs[1].starts_with("line 3: server.read_timeout_secs: expected a whole number"),
            "{msgs:#?}"
        );
        assert!(
            msgs[2].starts_with("line 5: answer.mode: \"fast\" is not one of:"),
            "{msgs:#?}"
        );
        assert!(
            msgs[3].starts_with("line 6: answer.holdback_bytes"),
            "{msgs:#?}"
        );
        assert!(
            msgs[4].starts_with("line 8: engine.databse: unknown key"),
            "{msgs:#?}"
        );
        assert!(e.to_string().contains("(5 error(s))"), "{e}");
    }

    #[test]
    fn syntax_and_type_errors_have_lines() {
        let e = load_str("[server]\nmax_connections = \"many\"\n", "f.toml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("f.toml") && s.contains("line 2"), "{s}");
        let e = load_str("[server\nx=1\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = load_str("[server]\nlisten = [\"nowhere\"]\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn invalid_values_are_errors_with_lines() {
        let text = "[answer]\nholdback_bytes = 100\n[log]\nlevel = \"loud\"\n";
        let e = load_str(text, "f").unwrap_err();
        let ConfigError::Invalid { errors, .. } = e else {
            panic!("not invalid")
        };
        let lines: Vec<_> = errors.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![Some(2), Some(4)]);
    }

    #[test]
    fn cure_in_partial_mode_warns() {
        let text = "[[policy.group]]\nname = \"c\"\n[policy.group.engine]\ncure = true\n";
        let l = load_str(text, "f").expect("loads");
        let key = Some("policy.group.0.engine.cure");
        assert!(
            l.warnings.iter().any(|w| w.key.as_deref() == key),
            "{:?}",
            l.warnings
        );
        let complete = format!("[answer]\nmode = \"complete\"\n{text}");
        let l = load_str(&complete, "f").expect("loads");
        assert!(!l.warnings.iter().any(|w| w.key.as_deref() == key));
    }

    #[test]
    fn default_round_trips_through_toml() {
        let text = toml::to_string(&Config::default()).expect("serialises");
        let l = load_str(&text, "t").expect("loads");
        assert_eq!(l.config, Config::default());
        assert!(l.warnings.is_empty());
    }
}
