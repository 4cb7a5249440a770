//! A small TOML writer for the importer's output: tables of scalar and string-list values.

use std::fmt::Write;

/// A TOML value the importer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// An array of strings.
    List(Vec<String>),
}

/// Where a value came from: a kav4proxy key and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Src {
    /// `section(:group)` as written in kav4proxy.conf.
    pub section: String,
    /// The key as written.
    pub key: String,
    /// 1-based line.
    pub line: usize,
}

/// One `key = value` line and the kav4proxy keys it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// Bulwark's key.
    pub key: String,
    /// Its value.
    pub value: Value,
    /// The kav4proxy keys it came from, written as a comment after it.
    pub from: Vec<Src>,
}

/// A table: its header (`[server]`, `[[policy.group]]`), comment lines, and ordered
/// `key = value` lines.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    /// The header line as written, brackets included.
    pub header: String,
    /// Comment lines written under the header (without the leading `# `).
    pub remarks: Vec<String>,
    /// Ordered lines; a later `set` of the same key replaces the value in place.
    pub lines: Vec<Line>,
}

impl Table {
    /// An empty table with this header.
    pub fn new(header: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            ..Self::default()
        }
    }

    /// Sets `key` from one kav4proxy key; returns the sources of the value it replaced.
    pub fn set(&mut self, key: &str, v: Value, from: Src) -> Option<Vec<Src>> {
        self.set_from(key, v, vec![from])
    }

    /// Sets `key` from these sources; returns the sources of the value it replaced.
    pub fn set_from(&mut self, key: &str, v: Value, from: Vec<Src>) -> Option<Vec<Src>> {
        match self.lines.iter_mut().find(|l| l.key == key) {
            Some(l) => {
                l.value = v;
                Some(std::mem::replace(&mut l.from, from))
            }
            None => {
                self.lines.push(Line {
                    key: key.to_string(),
                    value: v,
                    from,
                });
                None
            }
        }
    }

    /// Appends to the string list `key` (a repeated kav4proxy key).
    pub fn push(&mut self, key: &str, item: String, from: Src) {
        match self.lines.iter_mut().find(|l| l.key == key) {
            Some(l) => {
                match &mut l.value {
                    Value::List(items) => items.push(item),
                    other => *other = Value::List(vec![item]),
                }
                l.from.push(from);
            }
            None => self.lines.push(Line {
                key: key.to_string(),
                value: Value::List(vec![item]),
                from: vec![from],
            }),
        }
    }

    /// Adds a comment line under the header.
    pub fn remark(&mut self, text: impl Into<String>) {
        self.remarks.push(text.into());
    }

    /// Every source of the table's values.
    pub fn sources(&self) -> impl Iterator<Item = &Src> {
        self.lines.iter().flat_map(|l| l.from.iter())
    }

    /// Writes the table (nothing when it has no lines nor remarks and `skip_empty`).
    pub fn write(&self, out: &mut String, skip_empty: bool) {
        if skip_empty && self.lines.is_empty() && self.remarks.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{}", self.header);
        for r in &self.remarks {
            let _ = writeln!(out, "# {r}");
        }
        for l in &self.lines {
            let _ = write!(out, "{} = {}", l.key, value(&l.value));
            if !l.from.is_empty() {
                let _ = write!(out, "  # kav4proxy: {}", sources(&l.from));
            }
            out.push('\n');
        }
    }
}

/// `Key (line 3), Other (lines 5, 6)`: the keys in order, repeated keys' lines together.
pub(super) fn sources(from: &[Src]) -> String {
    let mut parts: Vec<(String, Vec<usize>)> = Vec::new();
    for s in from {
        match parts.last_mut() {
            Some((k, lines)) if *k == s.key => lines.push(s.line),
            _ => parts.push((s.key.clone(), vec![s.line])),
        }
    }
    parts
        .iter()
        .map(|(k, lines)| {
            let list: Vec<String> = lines.iter().map(usize::to_string).collect();
            let word = if lines.len() == 1 { "line" } else { "lines" };
            format!("{k} ({word} {})", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => string(s),
        Value::List(l) => {
            let items: Vec<String> = l.iter().map(|s| string(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// A TOML string: literal (`'…'`, handy for regexes) when possible, else basic with escapes.
pub(super) fn string(s: &str) -> String {
    if !s.contains('\'') && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(key: &str, line: usize) -> Src {
        Src {
            section: "s".into(),
            key: key.into(),
            line,
        }
    }

    #[test]
    fn values_carry_their_sources() {
        let mut t = Table::new("[t]");
        t.push("l", "a".into(), src("ExcludeURL", 3));
        t.push("l", "b".into(), src("ExcludeURL", 4));
        assert_eq!(t.set("n", Value::Int(1), src("MaxReqLength", 5)), None);
        let old = t.set("n", Value::Int(2), src("MaxReqLength", 9));
        assert_eq!(old, Some(vec![src("MaxReqLength", 5)]));
        t.remark("a remark");
        let mut out = String::new();
        t.write(&mut out, true);
        assert_eq!(
            out,
            "\n[t]\n# a remark\nl = ['a', 'b']  # kav4proxy: ExcludeURL (lines 3, 4)\n\
             n = 2  # kav4proxy: MaxReqLength (line 9)\n"
        );
        let v: toml::Value = toml::from_str(&out).expect("valid toml");
        assert_eq!(v["t"]["n"].as_integer(), Some(2));
    }

    #[test]
    fn strings_round_trip() {
        for s in [r"^www\.example\.com\/.*", "it's \"q\"\\", "tab\there"] {
            let doc = format!("k = {}", string(s));
            let v: toml::Value = toml::from_str(&doc).expect("valid toml");
            assert_eq!(v["k"].as_str(), Some(s));
        }
    }
}
