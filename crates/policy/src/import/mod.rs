//! `bulwark config import`: converts a kav4proxy 5.5 `kav4proxy.conf` to Bulwark's TOML.
//!
//! Every key of the file ends up in the TOML, each value followed by a `# kav4proxy: Key (line
//! N)` comment naming where it came from, or in a note saying why it was not converted; the
//! table of every known key and its fate is in `keys.rs`. A key written in another section than
//! its own (`MaxReqLength` under `[icapserver.protocol]`) is converted where it belongs, with a
//! note; a key the table does not know gets "unknown kav4proxy key".
//!
//! What is converted: `[icapserver.network]` and `[icapserver.protocol]` to `[server]`,
//! `[identity]` and `[answer]`; `[icapserver.groups:NAME]` to `[[policy.group]]`;
//! `[icapserver.engine.options(:NAME)]`, `[icapserver.filter(:NAME)]` and
//! `[icapserver.actions(:NAME)]` to each group's `engine`, `filter` and `actions`;
//! `[icapserver.report]` and `[icapserver.statistics]` to `[log]`; `NotifyScript` to `[notify]`;
//! the updater's proxy, report and post-update command to `[update]`.
//!
//! Paths are Bulwark's, not Kaspersky's: the packaged service may write only its private
//! `/tmp`, `/var/lib/bulwark`, `/var/log/bulwark`, `/var/cache/bulwark` and `/run/bulwark`, so
//! log, statistics and pid files go there (a note gives each rewrite) and the temporary
//! directory is Bulwark's default. `engine.database` is always ClamAV's `/var/lib/clamav`:
//! Kaspersky's bases cannot be read.
//!
//! A group's section overrides the default section key by key (a key the group does not set
//! takes the default section's value); the output writes each group complete, because
//! Bulwark's groups do not inherit from `[policy.default]`. A repeated key in a group section
//! replaces the default section's list. kav4proxy's `Priority` is kept as is: Bulwark tries
//! higher priorities first. A group with a criterion (`ClientIP`, `URL`, `Users`) that cannot
//! be converted is not converted at all, never widened: its clients fall to the other groups.

mod convert;
mod emit;
mod groups;
mod ini;
mod keys;
mod render;

use std::collections::BTreeMap;

use emit::{Src, Table};
use ini::Entry;
use keys::Rule;

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Bulwark's configuration (`[server]`, `[engine]`, `[log]`, `[policy…]`…).
    pub toml: String,
    /// Keys not converted, and conversions to review, in line order.
    pub notes: Vec<ImportNote>,
}

/// A key that was not converted (or converted with a caveat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// `section(:group).Key` as written in kav4proxy.conf (`section:group` for a whole group).
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

/// The importer's state: Bulwark's tables as they fill, the groups, the notes.
#[derive(Default)]
struct State {
    server: Table,
    identity: Table,
    answer: Table,
    engine: Table,
    limits: Table,
    log: Table,
    control: Table,
    notify: Table,
    update: Table,
    /// `[policy]`: `templates_dir`, written commented out.
    policy: Table,
    /// Remarks for `[policy.default]` (the default group's criteria).
    default_group: Table,
    /// `BasesPath`, named beside `engine.database`.
    bases: Option<Src>,
    /// `ProxyAddress` and `UseProxy`, decided together at the end.
    proxy: Option<(String, Src)>,
    use_proxy: Option<(Option<bool>, Src)>,
    /// `None`: the default sections; `Some(name)`: `[section:name]`.
    scopes: BTreeMap<Option<String>, Scope>,
    groups: BTreeMap<String, groups::GroupDef>,
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
        engine: Table::new("[engine]"),
        limits: Table::new("[engine.limits]"),
        log: Table::new("[log]"),
        control: Table::new("[control]"),
        notify: Table::new("[notify]"),
        update: Table::new("[update]"),
        policy: Table::new("[policy]"),
        default_group: Table::new("[policy.default]"),
        ..State::default()
    };
    for h in &headers {
        if let (true, Some(g)) = (h.section == "icapserver.groups", &h.group) {
            if !st.groups.contains_key(g) {
                st.order.push(g.clone());
                st.groups.insert(g.clone(), groups::GroupDef::new(h.line));
            }
        }
    }
    for e in &entries {
        dispatch(&mut st, e);
    }
    convert::finish(&mut st);
    let toml = render::render(&mut st);
    let mut notes = st.notes;
    notes.sort_by_key(|n| n.line);
    Ok(Imported { toml, notes })
}

/// `section(:group)` as written.
fn section_of(e: &Entry) -> String {
    match &e.group {
        Some(g) => format!("{}:{g}", e.section),
        None => e.section.clone(),
    }
}

/// The source of a value converted from `e`.
fn src(e: &Entry) -> Src {
    Src {
        section: section_of(e),
        key: e.key.clone(),
        line: e.line,
    }
}

fn note(st: &mut State, e: &Entry, why: impl Into<String>) {
    note_src(st, &src(e), why);
}

fn note_src(st: &mut State, s: &Src, why: impl Into<String>) {
    st.notes.push(ImportNote {
        key: format!("{}.{}", s.section, s.key),
        line: s.line,
        why: why.into(),
    });
}

/// Notes for values that a later line replaced.
fn replaced(st: &mut State, old: Option<Vec<Src>>, by: &Entry) {
    for s in old.into_iter().flatten() {
        if s.line != by.line {
            note_src(
                st,
                &s,
                format!("set again on line {}, whose value applies", by.line),
            );
        }
    }
}

/// Finds the key in the table (or where it belongs), checks its group, and converts or notes.
fn dispatch(st: &mut State, e: &Entry) {
    let (key, moved) = match keys::find(&e.section, &e.key) {
        Some(k) => (k, false),
        None => match keys::home(&e.section, &e.key) {
            Some(k) => (k, true),
            None => return note(st, e, "unknown kav4proxy key; not converted"),
        },
    };
    let wrong = format!(
        "written under [{}], but it belongs in [{}]",
        e.section, key.section
    );
    if let Some(g) = &e.group {
        if !keys::per_group(key.section) {
            let why = format!(
                "[{}] has no per-group form; not converted (it would apply to every client)",
                key.section
            );
            return note(
                st,
                e,
                if moved {
                    format!("{wrong}; {why}")
                } else {
                    why
                },
            );
        }
        if !st.groups.contains_key(g) {
            return note(
                st,
                e,
                format!("no [icapserver.groups:{g}] section defines this group; not converted"),
            );
        }
    }
    match key.rule {
        Rule::Refuse(why) => {
            let why = if e.value.trim().is_empty() {
                why.to_string()
            } else {
                format!("`{}`: {why}", e.value.trim())
            };
            note(
                st,
                e,
                if moved {
                    format!("{wrong}; {why}")
                } else {
                    why
                },
            );
        }
        Rule::Map(c) => {
            if moved {
                note(st, e, format!("{wrong}: moved there and converted"));
            }
            // Notes and comments name the section as written; the conversion needs only `c`.
            convert::apply(st, e, c);
        }
    }
}

#[cfg(test)]
mod tests;
