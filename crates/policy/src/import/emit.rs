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

/// A table: its header (`[server]`, `[[policy.group]]`) and ordered `key = value` lines.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    /// The header line as written, brackets included.
    pub header: String,
    /// Ordered entries; a later `set` of the same key replaces the value in place.
    pub entries: Vec<(String, Value)>,
}

impl Table {
    /// An empty table with this header.
    pub fn new(header: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            entries: Vec::new(),
        }
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: &str, v: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.entries.push((key.to_string(), v)),
        }
    }

    /// Appends to the string list `key` (a repeated kav4proxy key).
    pub fn push(&mut self, key: &str, item: String) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, Value::List(l))) => l.push(item),
            Some(e) => e.1 = Value::List(vec![item]),
            None => self
                .entries
                .push((key.to_string(), Value::List(vec![item]))),
        }
    }

    /// Writes the table (nothing when it has no entries and `skip_empty`).
    pub fn write(&self, out: &mut String, skip_empty: bool) {
        if skip_empty && self.entries.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{}", self.header);
        for (k, v) in &self.entries {
            let _ = writeln!(out, "{k} = {}", value(v));
        }
    }
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

    #[test]
    fn strings_round_trip() {
        for s in [r"^www\.example\.com\/.*", "it's \"q\"\\", "tab\there"] {
            let doc = format!("k = {}", string(s));
            let v: toml::Value = toml::from_str(&doc).expect("valid toml");
            assert_eq!(v["k"].as_str(), Some(s));
        }
    }
}
