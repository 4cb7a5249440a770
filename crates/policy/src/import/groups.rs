//! `[icapserver.groups(:NAME)]`: a group's priority and criteria (`ClientIP`, `URL`, `Users`).
//! A criterion that cannot be converted refuses the whole group: dropping it would widen the
//! group to every client, URL or user, with the group's (often laxer) rules.

use super::emit::{Src, Value};
use super::ini::Entry;
use super::keys::Conv;
use super::{note, src, State};

/// One criterion of a group: the values converted, whether one of them matches anything
/// (`.*`, which makes the criterion "any"), and the lines it came from.
#[derive(Debug, Clone, Default)]
pub(super) struct Criterion {
    /// Converted values.
    pub items: Vec<String>,
    /// A value matched anything: the criterion does not restrict.
    pub any: bool,
    /// The kav4proxy lines.
    pub from: Vec<Src>,
}

impl Criterion {
    /// The TOML value: empty (any) when one value matched anything.
    pub fn value(&self) -> Value {
        Value::List(if self.any {
            Vec::new()
        } else {
            self.items.clone()
        })
    }
}

/// A `[icapserver.groups:NAME]` group.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupDef {
    /// Line of its first `[icapserver.groups:NAME]` header.
    pub line: usize,
    /// `Priority` and its line.
    pub priority: Option<(i32, Src)>,
    /// `ClientIP` values.
    pub clients: Criterion,
    /// `URL` values.
    pub urls: Criterion,
    /// `Users` values.
    pub users: Criterion,
    /// Why the group cannot be converted safely (the first criterion that did not convert).
    pub broken: Option<String>,
}

impl GroupDef {
    /// A group first defined on `line`.
    pub fn new(line: usize) -> Self {
        Self {
            line,
            ..Self::default()
        }
    }

    /// Every line of the group's own section.
    pub fn sources(&self) -> impl Iterator<Item = &Src> {
        self.priority
            .iter()
            .map(|(_, s)| s)
            .chain(&self.clients.from)
            .chain(&self.urls.from)
            .chain(&self.users.from)
    }
}

/// A value that matches anything.
fn any(v: &str) -> bool {
    matches!(v.trim(), ".*" | "^.*$" | "^.*" | ".*$" | "*")
}

/// `Priority`, `ClientIP`, `URL` or `Users` of the default group or of a named one.
pub(super) fn criterion(st: &mut State, e: &Entry, c: Conv) {
    let v = e.value.trim();
    let Some(name) = e.group.clone() else {
        let s = super::emit::sources(&[src(e)]);
        return match c {
            Conv::Priority => st.default_group.remark(format!(
                "kav4proxy: {s}: the default group applies when no named group matches, \
                 whatever its priority"
            )),
            _ if any(v) => st.default_group.remark(format!(
                "kav4proxy: {s}: `{v}`, as for the default group, which takes whatever no named \
                 group matches"
            )),
            _ => note(
                st,
                e,
                format!(
                    "`{v}`: the default group applies when no named group matches; its own \
                     criteria are ignored (use a named group to restrict)"
                ),
            ),
        };
    };
    let s = src(e);
    let mut review = None;
    let mut bad = None;
    let Some(g) = st.groups.get_mut(&name) else {
        return;
    };
    match c {
        Conv::Priority => match v.parse::<i32>() {
            Ok(p) => g.priority = Some((p, s)),
            Err(_) => bad = Some(format!("Priority `{v}` is not a whole number")),
        },
        Conv::ClientIp => match client(v) {
            Some(None) => {
                g.clients.any = true;
                g.clients.from.push(s);
            }
            Some(Some(n)) => {
                g.clients.items.push(n);
                g.clients.from.push(s);
            }
            None => {
                bad = Some(format!(
                    "ClientIP `{v}` is not an address, network, address/mask or simple prefix \
                     regex"
                ))
            }
        },
        Conv::Url => {
            if any(v) {
                g.urls.any = true;
                g.urls.from.push(s);
            } else if regex::Regex::new(v).is_ok() {
                g.urls.items.push(v.to_string());
                g.urls.from.push(s);
            } else {
                bad = Some(format!(
                    "URL `{v}` is not a regular expression Bulwark accepts"
                ));
            }
        }
        Conv::Users => {
            if any(v) {
                g.users.any = true;
                g.users.from.push(s);
            } else if plain_user(v) {
                g.users.items.push(v.to_string());
                g.users.from.push(s);
                review = Some(format!(
                    "converted to users = ['{v}']: matched whole, ignoring ASCII case, against \
                     the user name the proxy sends (identity.username_header); check its form \
                     (user, DOMAIN\\user, user@REALM)"
                ));
            } else {
                bad = Some(format!(
                    "Users `{v}` is not a plain user name (a pattern or list cannot be matched \
                     the same way by Bulwark's users)"
                ));
            }
        }
        _ => {}
    }
    if let Some(why) = bad {
        g.broken
            .get_or_insert_with(|| format!("{why} (line {})", e.line));
        note(
            st,
            e,
            format!(
                "{why}: the whole group `{name}` is not converted, rather than widened to every \
                 client with its rules"
            ),
        );
    } else if let Some(r) = review {
        note(st, e, r);
    }
}

/// A user name Bulwark can compare whole: letters, digits and `_ . @ -`.
fn plain_user(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
}

/// A ClientIP value as a Bulwark client range: `Some(None)` for "any" (`.*`), `None` when it
/// cannot be converted. Handles addresses, CIDR, address/mask and prefix regexes such as
/// `^192\.168\.12\..*`.
pub(super) fn client(v: &str) -> Option<Option<String>> {
    let v = v.trim();
    if any(v) {
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
