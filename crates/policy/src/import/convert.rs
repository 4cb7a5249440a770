//! The conversion of each mapped key (see [`Conv`]): a value in one of Bulwark's tables, with
//! its source, or a note saying why the value was not converted.

use std::net::SocketAddr;
use std::path::Path;

use super::emit::{Table, Value};
use super::ini::Entry;
use super::keys::{kaspersky_path, paths, Conv};
use super::{groups, note, note_src, replaced, src, Scope, State};

/// `yes`/`no` (and `true`/`false`, `on`/`off`, `1`/`0`).
fn yes_no(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A whole number of at least 0.
fn uint(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok()
}

/// An integer TOML value (Bulwark's integers fit in `i64`; larger ones are clamped).
fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Which table of a [`Scope`].
#[derive(Clone, Copy)]
enum Part {
    Engine,
    Filter,
    Actions,
}

/// The scope of `e`: the default sections or `[section:NAME]`.
fn scope<'a>(st: &'a mut State, e: &Entry) -> &'a mut Scope {
    st.scopes.entry(e.group.clone()).or_default()
}

/// Sets a key of `e`'s scope, noting the value it replaces.
fn set_scoped(st: &mut State, e: &Entry, part: Part, key: &str, v: Value) {
    let sc = scope(st, e);
    let t = match part {
        Part::Engine => &mut sc.engine,
        Part::Filter => &mut sc.filter,
        Part::Actions => &mut sc.actions,
    };
    let old = t.set(key, v, src(e));
    replaced(st, old, e);
}

/// Sets a key of a server-wide table, noting the value it replaces.
fn set_in(st: &mut State, e: &Entry, table: fn(&mut State) -> &mut Table, key: &str, v: Value) {
    let old = table(st).set(key, v, src(e));
    replaced(st, old, e);
}

/// Sets a Bulwark path in place of the value of `e`, with a note when it differs.
fn set_path(
    st: &mut State,
    e: &Entry,
    table: fn(&mut State) -> &mut Table,
    key: &str,
    path: &str,
    why: &str,
) {
    set_in(st, e, table, key, Value::Str(path.to_string()));
    let v = e.value.trim();
    if v != path {
        note(st, e, format!("`{v}` rewritten to `{path}`: {why}"));
    }
}

/// What applies when a group-scope value is not converted.
fn fallback(e: &Entry) -> &'static str {
    if e.group.is_some() {
        "the default section's value (else Bulwark's default) applies to this group"
    } else {
        "Bulwark's default applies"
    }
}

/// Converts one mapped key.
pub(super) fn apply(st: &mut State, e: &Entry, c: Conv) {
    let v = e.value.trim();
    match c {
        Conv::BasesPath => {
            st.bases = Some(src(e));
            note(
                st,
                e,
                format!(
                    "Kaspersky's bases (`{v}`) cannot be used: engine.database is set to \
                     ClamAV's {}, kept current by freshclam (the package recommends \
                     clamav-freshclam); Bulwark refuses to start without signatures there",
                    paths::DATABASE
                ),
            );
        }
        Conv::TempPath => temp_path(st, e, v),
        Conv::ListenAddress => {
            let a = v
                .strip_prefix("localhost:")
                .map(|p| format!("127.0.0.1:{p}"))
                .or_else(|| v.strip_prefix("*:").map(|p| format!("0.0.0.0:{p}")))
                .unwrap_or_else(|| v.to_string());
            match a.parse::<SocketAddr>() {
                Ok(a) => st.server.push("listen", a.to_string(), src(e)),
                Err(_) => note(st, e, format!("`{v}` is not ADDRESS:PORT; not converted")),
            }
        }
        Conv::Timeout => match uint(v) {
            Some(n) if n > 0 => set_in(st, e, |s| &mut s.server, "read_timeout_secs", int(n)),
            _ => note(
                st,
                e,
                format!("`{v}`: Bulwark always has a read timeout; its default (120 s) applies"),
            ),
        },
        Conv::AnswerMode => match v.to_ascii_lowercase().as_str() {
            m @ ("partial" | "complete" | "trickle") => {
                set_in(st, e, |s| &mut s.answer, "mode", Value::Str(m.into()))
            }
            _ => note(
                st,
                e,
                format!("`{v}`: expected partial or complete; Bulwark's default (partial) applies"),
            ),
        },
        Conv::MaxSendDelayTime => match uint(v) {
            Some(n) => set_in(
                st,
                e,
                |s| &mut s.answer,
                "max_send_delay_ms",
                int(n.saturating_mul(1000)),
            ),
            None => note(
                st,
                e,
                format!("`{v}` is not a number of seconds; not converted"),
            ),
        },
        Conv::PreviewSize => match uint(v) {
            Some(n) => set_in(st, e, |s| &mut s.server, "preview_bytes", int(n)),
            None => note(
                st,
                e,
                format!("`{v}` is not a number of bytes; not converted"),
            ),
        },
        Conv::MaxConnections => match uint(v) {
            Some(n) if n > 0 => set_in(st, e, |s| &mut s.server, "max_connections", int(n)),
            _ => note(
                st,
                e,
                format!(
                    "`{v}`: Bulwark always limits connections (and advertises Max-Connections); \
                     its default (1024) applies"
                ),
            ),
        },
        Conv::ReqModeUrl | Conv::RespModeUrl => {
            let path = format!("/{}", v.trim_start_matches('/'));
            if path == "/" || path.contains(char::is_whitespace) {
                return note(st, e, format!("`{v}` is not a service path; not converted"));
            }
            let key = if c == Conv::ReqModeUrl {
                "reqmod_paths"
            } else {
                "respmod_paths"
            };
            set_in(st, e, |s| &mut s.server, key, Value::List(vec![path]));
        }
        Conv::ClientIpHeader | Conv::UserNameHeader => {
            let key = if c == Conv::ClientIpHeader {
                "client_ip_header"
            } else {
                "username_header"
            };
            if v.is_empty() || v.contains(char::is_whitespace) {
                return note(
                    st,
                    e,
                    format!("`{v}` is not a header name; Bulwark's default applies"),
                );
            }
            set_in(st, e, |s| &mut s.identity, key, Value::Str(v.into()));
        }
        Conv::PidFile => set_path(
            st,
            e,
            |s| &mut s.control,
            "pid_file",
            paths::PID_FILE,
            "the packaged service keeps its pid file in /run/bulwark",
        ),
        Conv::Priority | Conv::ClientIp | Conv::Url | Conv::Users => groups::criterion(st, e, c),
        Conv::Engine(field) => match yes_no(v) {
            Some(b) => set_scoped(st, e, Part::Engine, field, Value::Bool(b)),
            None => note(
                st,
                e,
                format!("`{v}` is not yes or no; not converted, so {}", fallback(e)),
            ),
        },
        Conv::MaxScanTime => match uint(v) {
            Some(n) => set_scoped(st, e, Part::Engine, "max_scan_time_secs", int(n)),
            None => note(
                st,
                e,
                format!(
                    "`{v}` is not a number of seconds; not converted, so {}",
                    fallback(e)
                ),
            ),
        },
        Conv::MaxNestingLevel => max_nesting(st, e, v),
        Conv::ExcludeMimeType | Conv::ExcludeUrl => {
            if let Err(err) = regex::Regex::new(v) {
                return note(
                    st,
                    e,
                    format!(
                        "`{v}` is not a regular expression Bulwark accepts ({err}); not \
                         converted, so more is scanned"
                    ),
                );
            }
            let key = if c == Conv::ExcludeUrl {
                "exclude_urls"
            } else {
                "exclude_mime_types"
            };
            scope(st, e).filter.push(key, v.to_string(), src(e));
        }
        Conv::MaxReqLength => match uint(v) {
            Some(n) => set_scoped(st, e, Part::Filter, "max_req_length", int(n)),
            None => note(
                st,
                e,
                format!(
                    "`{v}` is not a number of bytes; not converted, so {}",
                    fallback(e)
                ),
            ),
        },
        Conv::Action(field, cure_ok) => {
            let a = v.to_ascii_lowercase();
            match a.as_str() {
                "skip" | "deny" => set_scoped(st, e, Part::Actions, field, Value::Str(a)),
                "cure" if cure_ok => set_scoped(st, e, Part::Actions, field, Value::Str(a)),
                _ => note(
                    st,
                    e,
                    format!(
                        "`{v}` is not {}; not converted, so {}",
                        if cure_ok {
                            "skip, deny or cure"
                        } else {
                            "skip or deny"
                        },
                        fallback(e)
                    ),
                ),
            }
        }
        Conv::PartialResponse => {
            let mapped = match v.to_ascii_lowercase().as_str() {
                "check" | "scan" => "scan",
                "skip" => "skip",
                "deny" => "deny",
                _ => {
                    return note(
                        st,
                        e,
                        format!(
                            "`{v}`: expected check, skip or deny; not converted, so {}",
                            fallback(e)
                        ),
                    )
                }
            };
            set_scoped(
                st,
                e,
                Part::Filter,
                "partial_response",
                Value::Str(mapped.into()),
            );
        }
        Conv::TemplateDir => template_dir(st, e, v),
        Conv::NotifyScript => notify_script(st, e, v),
        Conv::AvStats | Conv::CounterStats => stats_file(st, e, v, c == Conv::AvStats),
        Conv::ReportFile => {
            if v.is_empty() {
                return note(
                    st,
                    e,
                    "empty: the report log goes to standard error (the journal), Bulwark's default",
                );
            }
            set_path(
                st,
                e,
                |s| &mut s.log,
                "report_file",
                paths::REPORT_FILE,
                "the packaged service writes its logs in /var/log/bulwark, rotated by the \
                 packaged logrotate file",
            );
        }
        Conv::ReportLevel => {
            let level = match v {
                "0" | "1" => "error",
                "2" => "warn",
                "3" | "4" => "info",
                "9" => "debug",
                _ => {
                    return note(
                        st,
                        e,
                        format!(
                            "`{v}`: expected 0, 1, 2, 3, 4 or 9; Bulwark's default (info) applies"
                        ),
                    )
                }
            };
            set_in(st, e, |s| &mut s.log, "level", Value::Str(level.into()));
        }
        Conv::ShowOk | Conv::Append => {
            let key = if c == Conv::ShowOk {
                "show_ok"
            } else {
                "append"
            };
            match yes_no(v) {
                Some(b) => set_in(st, e, |s| &mut s.log, key, Value::Bool(b)),
                None => note(
                    st,
                    e,
                    format!("`{v}` is not yes or no; Bulwark's default applies"),
                ),
            }
        }
        Conv::UpdateReportFile => {
            if v.is_empty() {
                return note(st, e, "empty: no update report file, Bulwark's default");
            }
            set_path(
                st,
                e,
                |s| &mut s.update,
                "report_file",
                paths::UPDATE_REPORT,
                "the packaged service writes its logs in /var/log/bulwark (`bulwark update` \
                 writes this one; freshclam keeps its own log)",
            );
        }
        Conv::ProxyAddress => st.proxy = Some((v.to_string(), src(e))),
        Conv::UseProxy => st.use_proxy = Some((yes_no(v), src(e))),
        Conv::PostUpdateCmd => {
            if v.is_empty() {
                return note(st, e, "empty: no command, Bulwark's default");
            }
            if kaspersky_path(v) {
                return note(
                    st,
                    e,
                    format!(
                        "`{v}` is kav4proxy's own reload: Bulwark reloads itself after \
                         `bulwark update`; after freshclam updates, have it run `bulwark ctl \
                         reload-db` (OnUpdateExecute, see the operations guide)"
                    ),
                );
            }
            set_in(
                st,
                e,
                |s| &mut s.update,
                "post_update_cmd",
                Value::Str(v.into()),
            );
            note(
                st,
                e,
                "converted to update.post_update_cmd, run after `bulwark update` installs a \
                 database (split at spaces, no shell); after freshclam updates, use its \
                 OnUpdateExecute",
            );
        }
    }
}

fn temp_path(st: &mut State, e: &Entry, v: &str) {
    let why = if matches!(v.trim_end_matches('/'), "/tmp" | "/var/tmp") {
        format!(
            "`{v}`: Bulwark's default temporary directory applies ($TMPDIR, else /tmp; the \
             packaged service has a private /tmp), so server.temp_path is not written"
        )
    } else {
        format!(
            "`{v}` is not kept: the packaged service may write only {}, so Bulwark's default \
             temporary directory applies ($TMPDIR, else /tmp). To keep it, set \
             server.temp_path and allow it with `systemctl edit bulwark` (ReadWritePaths={v})",
            paths::WRITABLE
        )
    };
    note(st, e, why);
}

fn max_nesting(st: &mut State, e: &Entry, v: &str) {
    if e.group.is_some() {
        return note(
            st,
            e,
            format!(
                "`{v}`: engine.limits.max_depth is server-wide; the default section's value \
                 (else Bulwark's 10) applies to this group too"
            ),
        );
    }
    match v.parse::<u32>() {
        Ok(n) if n > 0 => set_in(st, e, |s| &mut s.limits, "max_depth", int(u64::from(n))),
        _ => note(
            st,
            e,
            format!("`{v}`: not a nesting depth of at least 1; Bulwark's default (10) applies"),
        ),
    }
}

fn template_dir(st: &mut State, e: &Entry, v: &str) {
    if e.group.is_some() {
        return note(
            st,
            e,
            format!(
                "`{v}`: block pages are the same for every group (one policy.templates_dir); \
                 not converted for this group"
            ),
        );
    }
    let dir = paths::TEMPLATES;
    st.policy.remark(format!(
        "templates_dir = {}  # kav4proxy: {}",
        super::emit::string(dir),
        super::emit::sources(&[src(e)])
    ));
    note(
        st,
        e,
        format!(
            "written commented out as policy.templates_dir = '{dir}': copy your templates from \
             `{v}` there (Bulwark reads <dir>/<name>.html or <dir>/<lang>/<name>.html, with \
             kav4proxy's names and macros) and uncomment it (a missing directory is an error); \
             until then the built-in pages apply"
        ),
    );
}

fn notify_script(st: &mut State, e: &Entry, v: &str) {
    if e.group.is_some() {
        return note(
            st,
            e,
            format!(
                "`{v}`: notifications are server-wide (one notify.script); not converted for \
                 this group"
            ),
        );
    }
    if v.is_empty() {
        return note(st, e, "empty: no notification script, Bulwark's default");
    }
    if !kaspersky_path(v) {
        return set_in(st, e, |s| &mut s.notify, "script", Value::Str(v.into()));
    }
    let name = Path::new(v)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("notify.sh");
    let target = format!("{}/{name}", paths::SCRIPTS);
    st.notify.remark(format!(
        "script = {}  # kav4proxy: {}",
        super::emit::string(&target),
        super::emit::sources(&[src(e)])
    ));
    note(
        st,
        e,
        format!(
            "`{v}` lies in Kaspersky's tree, which goes with kav4proxy: written commented out \
             as notify.script = '{target}'; copy the script there, check that it writes only \
             where the service may ({}), and uncomment it",
            paths::WRITABLE
        ),
    );
}

fn stats_file(st: &mut State, e: &Entry, v: &str, av: bool) {
    let (key, path) = if av {
        ("av_stats_file", paths::AV_STATS)
    } else {
        ("counter_stats_file", paths::COUNTER_STATS)
    };
    if v.is_empty() {
        return note(
            st,
            e,
            format!("empty: log.{key} stays off, Bulwark's default"),
        );
    }
    if !v.starts_with('/') {
        return note(
            st,
            e,
            format!(
                "`{v}` is not a file path: Bulwark writes statistics to files only \
                 (log.{key}, off) and exports its counters on /metrics ([metrics] listen)"
            ),
        );
    }
    set_path(
        st,
        e,
        |s| &mut s.log,
        key,
        path,
        "the packaged service writes its logs in /var/log/bulwark, rotated by the packaged \
         logrotate file",
    );
}

/// What can only be decided once every line is read: the updater's proxy.
pub(super) fn finish(st: &mut State) {
    let proxy = st.proxy.take();
    let use_proxy = st.use_proxy.take();
    let used = use_proxy.as_ref().map(|(u, _)| *u);
    match (proxy, used) {
        (Some((addr, s)), None | Some(Some(true))) if !addr.is_empty() => {
            let mut from = vec![s.clone()];
            from.extend(use_proxy.iter().map(|(_, u)| u.clone()));
            st.update.set_from("proxy", Value::Str(addr), from);
            note_src(
                st,
                &s,
                "converted to update.proxy, used by `bulwark update`; freshclam has its own \
                 (HTTPProxyServer in freshclam.conf)",
            );
        }
        (proxy, _) => {
            if let Some((addr, s)) = &proxy {
                let why = if addr.is_empty() {
                    "empty: no proxy".to_string()
                } else if used == Some(Some(false)) {
                    format!("`{addr}` is not used (UseProxy=no): update.proxy stays unset")
                } else {
                    format!(
                        "`{addr}` is not used: UseProxy is not yes or no; update.proxy stays unset"
                    )
                };
                note_src(st, s, why);
            }
            if let Some((u, s)) = &use_proxy {
                let why = match u {
                    Some(true) => "yes without ProxyAddress: kav4proxy then used $http_proxy; \
                                   `bulwark update` needs update.proxy set"
                        .to_string(),
                    Some(false) => {
                        "no: `bulwark update` connects directly, Bulwark's default".to_string()
                    }
                    None => "not yes or no; update.proxy stays unset".to_string(),
                };
                note_src(st, s, why);
            }
        }
    }
}
