//! `bulwark config import`: converts a kav4proxy 5.5 `kav4proxy.conf` to Bulwark's TOML.
//!
//! What is converted: `[icapserver.network]`, `[icapserver.protocol]` and `[path] TempPath` to
//! `[server]`, `[identity]` and `[answer]`; `[icapserver.groups:NAME]` to `[[policy.group]]`;
//! `[icapserver.engine.options(:NAME)]`, `[icapserver.filter(:NAME)]` and
//! `[icapserver.actions(:NAME)]` to each group's `engine`, `filter` and `actions`;
//! `NotifyTemplateDir` to `policy.templates_dir`. Everything else is listed in the notes.
//!
//! A group's section overrides the default section key by key (a key the group does not set
//! takes the default section's value); the output writes each group complete, because
//! Bulwark's groups do not inherit from `[policy.default]`. A repeated key in a group section
//! replaces the default section's list. kav4proxy's `Priority` is kept as is: Bulwark tries
//! higher priorities first.

mod emit;
mod ini;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use emit::{Table, Value};
use ini::Entry;

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Bulwark's configuration (`[server]`, `[identity]`, `[answer]`, `[policy…]`).
    pub toml: String,
    /// Keys not converted, and conversions to review.
    pub notes: Vec<ImportNote>,
}

/// A key that was not converted (or converted with a caveat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// `section(:group).Key` as written in kav4proxy.conf.
    pub key: String,
    /// 1-based line in kav4proxy.conf.
    pub line: usize,
    /// Why it was not converted, or what to review.
    pub why: String,
}

impl std::fmt::Display for ImportNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.key, self.why)
    }
}

/// Why a file could not be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A line that is not a comment, a section header or `Key=Value`.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The per-scope tables of a group: `engine`, `filter`, `actions`.
#[derive(Debug, Clone, Default)]
struct Scope {
    engine: Table,
    filter: Table,
    actions: Table,
}

/// A `[icapserver.groups:NAME]` group.
#[derive(Debug, Clone, Default)]
struct GroupDef {
    /// Line of its first `[icapserver.groups:NAME]` header.
    line: usize,
    priority: Option<i64>,
    clients: Vec<String>,
    urls: Vec<String>,
    /// Why the group cannot be converted safely (a criterion that did not convert).
    broken: Option<String>,
}

#[derive(Default)]
struct State {
    server: Table,
    identity: Table,
    answer: Table,
    log: Table,
    control: Table,
    notify: Table,
    /// `NotifyTemplateDir`, written as a comment.
    templates_dir: Option<String>,
    scopes: BTreeMap<Option<String>, Scope>,
    groups: BTreeMap<String, GroupDef>,
    /// Group order as first defined.
    order: Vec<String>,
    notes: Vec<ImportNote>,
}

/// Converts kav4proxy.conf text.
pub fn kav4proxy(text: &str) -> Result<Imported, ImportError> {
    let (headers, entries) = ini::parse(text)?;
    let mut st = State {
        server: Table::new("[server]"),
        identity: Table::new("[identity]"),
        answer: Table::new("[answer]"),
        log: Table::new("[log]"),
        control: Table::new("[control]"),
        notify: Table::new("[notify]"),
        ..State::default()
    };
    for h in &headers {
        if let (true, Some(g)) = (h.section == "icapserver.groups", &h.group) {
            if !st.groups.contains_key(g) {
                st.order.push(g.clone());
                let def = GroupDef {
                    line: h.line,
                    ..GroupDef::default()
                };
                st.groups.insert(g.clone(), def);
            }
        }
    }
    for e in &entries {
        convert(&mut st, e);
    }
    Ok(Imported {
        toml: render(&mut st),
        notes: st.notes,
    })
}

fn note(st: &mut State, e: &Entry, why: impl Into<String>) {
    let key = match &e.group {
        Some(g) => format!("{}:{g}.{}", e.section, e.key),
        None => format!("{}.{}", e.section, e.key),
    };
    st.notes.push(ImportNote {
        key,
        line: e.line,
        why: why.into(),
    });
}

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn convert(st: &mut State, e: &Entry) {
    let key = e.key.to_ascii_lowercase();
    let section = e.section.as_str();
    if e.group.is_some()
        && matches!(
            section,
            "icapserver.engine.options" | "icapserver.filter" | "icapserver.actions"
        )
    {
        let known = e.group.as_ref().is_some_and(|g| st.groups.contains_key(g));
        if !known {
            return note(
                st,
                e,
                "no [icapserver.groups:NAME] section defines this group; not converted",
            );
        }
    }
    match section {
        "icapserver.engine.options" => engine_key(st, e, &key),
        "icapserver.filter" => filter_key(st, e, &key),
        "icapserver.actions" => action_key(st, e, &key),
        "icapserver.groups" => group_key(st, e, &key),
        "icapserver.network" | "icapserver.protocol" | "path" => server_key(st, e, &key),
        "icapserver.notify" => match (key.as_str(), &e.group) {
            ("notifytemplatedir", None) => {
                st.templates_dir = Some(e.value.clone());
                note(st, e, "written commented out as policy.templates_dir: Bulwark reads <dir>/<name>.html or <dir>/<lang>/<name>.html with the same names and macros; copy your templates and uncomment it (a missing directory is an error)");
            }
            ("notifytemplatedir", Some(_)) => {
                note(st, e, "per-group template directories have no equivalent (one policy.templates_dir)")
            }
            ("notifyscript", None) => st.notify.set("script", Value::Str(e.value.clone())),
            _ => note(st, e, "no equivalent: notifications are global ([notify] script, webhook, events)"),
        },
        "options" => note(st, e, "no equivalent: run bulwark as an unprivileged user through systemd (User=, Group=)"),
        "icapserver.process" => note(st, e, "no equivalent: Bulwark serves every connection from one process with async tasks; see server.max_connections"),
        "icapserver.path" if key == "pidfile" => st.control.set("pid_file", Value::Str(e.value.clone())),
        "icapserver.path" => note(st, e, "no equivalent: Bulwark runs in the foreground under a service manager (no core path)"),
        s if s.starts_with("updater") => note(st, e, "no equivalent: signature updates are not part of the converted configuration"),
        "icapserver.report" if key == "reportlevel" => {
            let level = match e.value.trim() {
                "0" | "1" => "error",
                "2" => "warn",
                "3" | "4" => "info",
                "9" => "debug",
                _ => return note(st, e, format!("`{}`: expected 0, 1, 2, 3, 4 or 9", e.value)),
            };
            st.log.set("level", Value::Str(level.into()));
        }
        "icapserver.report" if key == "reportfilename" => st.log.set("report_file", Value::Str(e.value.clone())),
        "icapserver.report" if key == "append" => match yes_no(&e.value) {
            Some(b) => st.log.set("append", Value::Bool(b)),
            None => note(st, e, format!("`{}`: expected yes or no", e.value)),
        },
        "icapserver.report" if key == "showok" => match yes_no(&e.value) {
            Some(b) => st.log.set("show_ok", Value::Bool(b)),
            None => note(st, e, format!("`{}`: expected yes or no", e.value)),
        },
        "icapserver.statistics" | "icapserver.report" | "locale" => {
            note(st, e, "no equivalent: logs go to stderr ([log] level and format)")
        }
        _ => note(st, e, "unknown section; not converted"),
    }
}

fn scope<'a>(st: &'a mut State, e: &Entry) -> &'a mut Scope {
    st.scopes.entry(e.group.clone()).or_insert_with(|| Scope {
        engine: Table::new(""),
        filter: Table::new(""),
        actions: Table::new(""),
    })
}

fn engine_key(st: &mut State, e: &Entry, key: &str) {
    let field = match key {
        "scanpacked" => "scan_packed",
        "scanarchives" => "scan_archives",
        "scanmailbases" => "scan_mail_bases",
        "scanmailplain" => "scan_mail_plain",
        "cure" => "cure",
        "useheuristic" | "useheuristics" | "useanalyzer" => "use_heuristics",
        "maxscantime" => {
            return match e.value.parse::<i64>() {
                Ok(n) if n >= 0 => scope(st, e).engine.set("max_scan_time_secs", Value::Int(n)),
                _ => note(st, e, format!("`{}` is not a number of seconds", e.value)),
            }
        }
        "useavbasesset" => {
            let v = e.value.to_ascii_lowercase();
            return scope(st, e)
                .engine
                .set("signature_sets", Value::List(vec![v]));
        }
        "scansfxarchives" => {
            return note(
                st,
                e,
                "covered by scan_archives (self-extracting archives are archives)",
            )
        }
        _ => return note(st, e, "no equivalent engine option"),
    };
    match yes_no(&e.value) {
        Some(b) => scope(st, e).engine.set(field, Value::Bool(b)),
        None => note(st, e, format!("`{}` is not yes or no", e.value)),
    }
}

fn filter_key(st: &mut State, e: &Entry, key: &str) {
    let list_field = match key {
        "excludeurl" => "exclude_urls",
        "excludemimetype" => "exclude_mime_types",
        "maxreqlength" => {
            return match e.value.parse::<i64>() {
                Ok(n) if n >= 0 => scope(st, e).filter.set("max_req_length", Value::Int(n)),
                _ => note(st, e, format!("`{}` is not a number of bytes", e.value)),
            }
        }
        _ => return note(st, e, "no equivalent filter"),
    };
    if let Err(err) = regex::Regex::new(&e.value) {
        return note(st, e, format!("`{}` is not a regular expression Bulwark accepts ({err}); dropped, so more is scanned", e.value));
    }
    scope(st, e).filter.push(list_field, e.value.clone());
}

fn action_key(st: &mut State, e: &Entry, key: &str) {
    let v = e.value.to_ascii_lowercase();
    if key == "partialresponseaction" {
        let mapped = match v.as_str() {
            "check" | "scan" => "scan",
            "skip" => "skip",
            "deny" => "deny",
            _ => {
                return note(
                    st,
                    e,
                    format!("`{}`: expected check, skip or deny", e.value),
                )
            }
        };
        return scope(st, e)
            .filter
            .set("partial_response", Value::Str(mapped.into()));
    }
    let field = match key {
        "infectedaction" => "infected",
        "suspiciousaction" => "suspicious",
        "warningaction" => "warning",
        "erroraction" => "error",
        "protectedaction" => "protected",
        "corruptedaction" => "corrupted",
        "curedaction" => "cured",
        "licenseerroraction" => "license_error",
        "baseserroraction" => "bases_error",
        "maxreqlengthaction" => "too_large",
        "partialrequestaction" => {
            return note(
                st,
                e,
                "no equivalent: partial request bodies are scanned like any other",
            )
        }
        _ => return note(st, e, "no equivalent action"),
    };
    let cure_ok = matches!(field, "infected" | "suspicious" | "warning");
    match v.as_str() {
        "skip" | "deny" => scope(st, e).actions.set(field, Value::Str(v)),
        "cure" if cure_ok => scope(st, e).actions.set(field, Value::Str(v)),
        _ => note(
            st,
            e,
            format!(
                "`{}` is not skip or deny; Bulwark's default for this status applies",
                e.value
            ),
        ),
    }
}

fn group_key(st: &mut State, e: &Entry, key: &str) {
    let Some(name) = e.group.clone() else {
        let any = matches!(e.value.as_str(), ".*" | "^.*$" | "*");
        if key == "priority" || any {
            return;
        }
        return note(
            st,
            e,
            "the default group applies when no group matches; its criteria have no equivalent",
        );
    };
    let mut why = None;
    if let Some(g) = st.groups.get_mut(&name) {
        match key {
            "priority" => match e.value.parse::<i64>() {
                Ok(p) => g.priority = Some(p),
                Err(_) => why = Some(format!("`{}` is not a number", e.value)),
            },
            "clientip" => match client(&e.value) {
                Some(Some(c)) => g.clients.push(c),
                Some(None) => {}
                None => {
                    g.broken = Some(format!(
                        "ClientIP `{}` (line {}) could not be converted",
                        e.value, e.line
                    ));
                    why = Some("not an address, network, address/mask or simple prefix regex; the group is not converted (it would apply to every client)".to_string());
                }
            },
            "url" => {
                if matches!(e.value.as_str(), ".*" | "^.*$") {
                } else if regex::Regex::new(&e.value).is_ok() {
                    g.urls.push(e.value.clone());
                } else {
                    g.broken = Some(format!(
                        "URL `{}` (line {}) could not be converted",
                        e.value, e.line
                    ));
                    why = Some(
                        "not a regular expression Bulwark accepts; the group is not converted"
                            .to_string(),
                    );
                }
            }
            _ => why = Some("no equivalent group criterion".to_string()),
        }
    }
    if let Some(w) = why {
        note(st, e, w);
    }
}

/// A ClientIP value as a Bulwark client range: `Some(None)` for "any" (`.*`), `None` when it
/// cannot be converted. Handles addresses, CIDR, address/mask and prefix regexes such as
/// `^192\.168\.12\..*`.
fn client(v: &str) -> Option<Option<String>> {
    let v = v.trim();
    if matches!(v, ".*" | "^.*$" | "*" | "^.*") {
        return Some(None);
    }
    if let Ok(n) = crate::parse_client_range(v) {
        return Some(Some(n.to_string()));
    }
    let mut s = v.strip_prefix('^').unwrap_or(v);
    for tail in [".*$", ".*", "[0-9]+$", "[0-9]+", "\\d+$", "\\d+", "$"] {
        if let Some(t) = s.strip_suffix(tail) {
            s = t;
            break;
        }
    }
    let octets: Vec<&str> = s.split("\\.").collect();
    let (octets, open) = match octets.split_last() {
        Some((&"", init)) => (init.to_vec(), true),
        _ => (octets, false),
    };
    let parsed: Option<Vec<u8>> = octets.iter().map(|o| o.parse::<u8>().ok()).collect();
    let parsed = parsed?;
    match (parsed.len(), open) {
        (1..=3, true) => {
            let mut a = [0u8; 4];
            a[..parsed.len()].copy_from_slice(&parsed);
            Some(Some(format!(
                "{}.{}.{}.{}/{}",
                a[0],
                a[1],
                a[2],
                a[3],
                parsed.len() * 8
            )))
        }
        (4, false) => Some(Some(format!(
            "{}.{}.{}.{}/32",
            parsed[0], parsed[1], parsed[2], parsed[3]
        ))),
        _ => None,
    }
}

fn server_key(st: &mut State, e: &Entry, key: &str) {
    let num = |v: &str| v.parse::<i64>().ok().filter(|n| *n >= 0);
    match (e.section.as_str(), key) {
        ("path", "temppath") => st.server.set("temp_path", Value::Str(e.value.clone())),
        ("path", _) => note(st, e, "no equivalent: kav4proxy's bases, licences and plugins are not used (see [engine] database)"),
        ("icapserver.network", "listenaddress") => {
            let v = e.value.trim();
            let v = v.strip_prefix("localhost:").map(|p| format!("127.0.0.1:{p}"))
                .or_else(|| v.strip_prefix("*:").map(|p| format!("0.0.0.0:{p}")))
                .unwrap_or_else(|| v.to_string());
            match v.parse::<SocketAddr>() {
                Ok(a) => st.server.push("listen", a.to_string()),
                Err(_) => note(st, e, format!("`{}` is not ADDRESS:PORT", e.value)),
            }
        }
        ("icapserver.network", "timeout") => match num(&e.value) {
            Some(n) if n > 0 => st.server.set("read_timeout_secs", Value::Int(n)),
            _ => note(st, e, "0 or invalid: Bulwark always has a read timeout; its default applies"),
        },
        ("icapserver.protocol", "answermode") => match e.value.to_ascii_lowercase().as_str() {
            m @ ("partial" | "complete" | "trickle") => st.answer.set("mode", Value::Str(m.into())),
            _ => note(st, e, format!("`{}`: expected partial or complete", e.value)),
        },
        ("icapserver.protocol", "maxsenddelaytime") => match num(&e.value) {
            Some(n) => st.answer.set("max_send_delay_ms", Value::Int(n.saturating_mul(1000))),
            None => note(st, e, "not a number of seconds"),
        },
        ("icapserver.protocol", "previewsize") => match num(&e.value) {
            Some(n) => st.server.set("preview_bytes", Value::Int(n)),
            None => note(st, e, "not a number of bytes"),
        },
        ("icapserver.protocol", "maxconnections") => match num(&e.value) {
            Some(n) if n > 0 => st.server.set("max_connections", Value::Int(n)),
            _ => note(st, e, "0 or invalid: Bulwark always limits connections; its default applies"),
        },
        ("icapserver.protocol", k @ ("reqmodeserviceurl" | "respmodeserviceurl")) => {
            let path = format!("/{}", e.value.trim().trim_start_matches('/'));
            let field = if k.starts_with("req") { "reqmod_paths" } else { "respmod_paths" };
            st.server.set(field, Value::List(vec![path]));
        }
        ("icapserver.protocol", "httpclientipicapheader") => st.identity.set("client_ip_header", Value::Str(e.value.clone())),
        ("icapserver.protocol", "httpusernameicapheader") => st.identity.set("username_header", Value::Str(e.value.clone())),
        ("icapserver.protocol", "allow204") => note(st, e, "no equivalent: Bulwark answers 204 whenever the ICAP client allows it"),
        _ => note(st, e, "no equivalent"),
    }
}

/// The group's table: the default scope's entries overridden by the group's.
fn merged(default: &Table, group: Option<&Table>, header: String) -> Table {
    let mut t = Table::new(header);
    for (k, v) in default
        .entries
        .iter()
        .chain(group.map(|g| g.entries.iter()).into_iter().flatten())
    {
        t.set(k, v.clone());
    }
    t
}

fn render(st: &mut State) -> String {
    let mut out = String::from(
        "# Converted from kav4proxy.conf by `bulwark config import`.\n\
         # Keys not written here take Bulwark's defaults (`bulwark config show` lists them).\n",
    );
    st.server.write(&mut out, true);
    st.identity.write(&mut out, true);
    st.answer.write(&mut out, true);
    st.log.write(&mut out, true);
    st.control.write(&mut out, true);
    st.notify.write(&mut out, true);
    if let Some(dir) = &st.templates_dir {
        out.push_str(&format!(
            "\n[policy]\n# templates_dir = {}\n",
            emit::string(dir)
        ));
    }
    let empty = Scope::default();
    let d = st.scopes.get(&None).cloned().unwrap_or(empty);
    let mut head = Table::new("[policy.default]");
    head.set("name", Value::Str("default".into()));
    head.write(&mut out, false);
    for (name, t) in [
        ("engine", &d.engine),
        ("filter", &d.filter),
        ("actions", &d.actions),
    ] {
        merged(t, None, format!("[policy.default.{name}]")).write(&mut out, true);
    }
    for name in st.order.clone() {
        let Some(g) = st.groups.get(&name).cloned() else {
            continue;
        };
        if let Some(why) = &g.broken {
            st.notes.push(ImportNote {
                key: format!("icapserver.groups:{name}"),
                line: g.line,
                why: format!("group not converted: {why}"),
            });
            continue;
        }
        let mut head = Table::new("[[policy.group]]");
        head.set("name", Value::Str(name.clone()));
        head.set("priority", Value::Int(g.priority.unwrap_or(0)));
        if !g.clients.is_empty() {
            head.set("clients", Value::List(g.clients.clone()));
        }
        if !g.urls.is_empty() {
            head.set("urls", Value::List(g.urls.clone()));
        }
        out.push_str(&format!(
            "\n# group `{name}`: its own keys over the default section's\n"
        ));
        head.write(&mut out, false);
        let gs = st.scopes.get(&Some(name.clone()));
        merged(
            &d.engine,
            gs.map(|s| &s.engine),
            "[policy.group.engine]".into(),
        )
        .write(&mut out, true);
        merged(
            &d.filter,
            gs.map(|s| &s.filter),
            "[policy.group.filter]".into(),
        )
        .write(&mut out, true);
        merged(
            &d.actions,
            gs.map(|s| &s.actions),
            "[policy.group.actions]".into(),
        )
        .write(&mut out, true);
    }
    out
}

#[cfg(test)]
mod tests;
