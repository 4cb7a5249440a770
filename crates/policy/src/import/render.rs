//! Writing the converted configuration: the server-wide tables, the default group, then each
//! named group complete (its own keys over the default sections'), or a note for each line of
//! a group that is refused.

use super::emit::{Src, Table, Value};
use super::keys::paths;
use super::{note_src, ImportNote, Scope, State};

const HEADER: &str = "\
# Converted from kav4proxy.conf by `bulwark config import`. Each value names the kav4proxy
# key and line it comes from; `bulwark config import` lists on standard error the keys that
# were not converted or were rewritten. Keys not written here take Bulwark's defaults
# (`bulwark config show` lists them).
";

/// The group's table: the default scope's lines overridden by the group's.
fn merged(default: &Table, group: Option<&Table>, header: &str) -> Table {
    let mut t = Table::new(header);
    for l in default
        .lines
        .iter()
        .chain(group.map(|g| g.lines.iter()).into_iter().flatten())
    {
        t.set_from(&l.key, l.value.clone(), l.from.clone());
    }
    t
}

/// The TOML text; notes for refused groups are added to `st.notes`.
pub(super) fn render(st: &mut State) -> String {
    let mut out = String::from(HEADER);
    st.server.write(&mut out, true);
    st.identity.write(&mut out, true);
    st.answer.write(&mut out, true);
    let bases: Vec<Src> = st.bases.iter().cloned().collect();
    if bases.is_empty() {
        st.engine.remark(
            "ClamAV's signatures, kept current by freshclam: Kaspersky's bases cannot be used",
        );
    }
    st.engine.set_from(
        "database",
        Value::List(vec![paths::DATABASE.to_string()]),
        bases,
    );
    st.engine.write(&mut out, true);
    st.limits.write(&mut out, true);
    st.log.write(&mut out, true);
    st.control.write(&mut out, true);
    st.notify.write(&mut out, true);
    st.update.write(&mut out, true);
    st.policy.write(&mut out, true);

    let d = st.scopes.get(&None).cloned().unwrap_or_default();
    st.default_group
        .set_from("name", Value::Str("default".into()), Vec::new());
    st.default_group.write(&mut out, false);
    for (name, t) in [
        ("engine", &d.engine),
        ("filter", &d.filter),
        ("actions", &d.actions),
    ] {
        merged(t, None, &format!("[policy.default.{name}]")).write(&mut out, true);
    }
    for name in st.order.clone() {
        let Some(g) = st.groups.get(&name).cloned() else {
            continue;
        };
        let gs = st.scopes.get(&Some(name.clone())).cloned();
        let broken = if name == "default" {
            Some("Bulwark's default group is named `default`: rename this group".to_string())
        } else {
            g.broken.clone()
        };
        if let Some(why) = broken {
            refuse(st, &name, &g, gs.as_ref(), &why);
            continue;
        }
        let mut head = Table::new("[[policy.group]]");
        head.set_from("name", Value::Str(name.clone()), Vec::new());
        match &g.priority {
            Some((p, s)) => head.set("priority", Value::Int(i64::from(*p)), s.clone()),
            None => head.set_from("priority", Value::Int(0), Vec::new()),
        };
        for (key, c) in [
            ("clients", &g.clients),
            ("users", &g.users),
            ("urls", &g.urls),
        ] {
            if !c.from.is_empty() {
                head.set_from(key, c.value(), c.from.clone());
            }
        }
        out.push_str(&format!(
            "\n# group `{name}`: its own keys over the default section's\n"
        ));
        head.write(&mut out, false);
        let part = |f: fn(&Scope) -> &Table| gs.as_ref().map(f);
        merged(&d.engine, part(|s| &s.engine), "[policy.group.engine]").write(&mut out, true);
        merged(&d.filter, part(|s| &s.filter), "[policy.group.filter]").write(&mut out, true);
        merged(&d.actions, part(|s| &s.actions), "[policy.group.actions]").write(&mut out, true);
    }
    out
}

/// Notes for a refused group: one on its header, one on each of its lines not noted yet.
fn refuse(st: &mut State, name: &str, g: &super::groups::GroupDef, gs: Option<&Scope>, why: &str) {
    st.notes.push(ImportNote {
        key: format!("icapserver.groups:{name}"),
        line: g.line,
        why: format!(
            "group not converted: {why}; its clients are served by the other groups or the \
             default group. Write its [[policy.group]] by hand"
        ),
    });
    let mut lines: Vec<Src> = g.sources().cloned().collect();
    if let Some(s) = gs {
        lines.extend(
            s.engine
                .sources()
                .chain(s.filter.sources())
                .chain(s.actions.sources())
                .cloned(),
        );
    }
    // Only converted values carry sources: the lines already refused have their own notes.
    for s in &lines {
        note_src(
            st,
            s,
            format!("not converted: group `{name}` is refused (line {})", g.line),
        );
    }
}
