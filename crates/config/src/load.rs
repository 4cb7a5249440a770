//! Reading a configuration file the way an administrator needs it read: every problem of the
//! file in one pass, each with its line, in plain words; an unknown key is an error (with the
//! key it probably meant) unless the caller asks for leniency, as clamd and c-icap refuse to
//! start on an unknown option.

use std::path::Path;

use crate::check::{key_line, line_of, validate};
use crate::{no_compiled_checks, CompiledChecks, Config, ConfigError, Diagnostic, Loaded};

/// What to do with keys the schema does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    /// Unknown keys are errors (the server's and `config check`'s default).
    #[default]
    Strict,
    /// Unknown keys are warnings and ignored (`config check --lenient`).
    Lenient,
}

/// Most type errors collected from one file before giving up.
const MAX_ERRORS: usize = 100;

/// Reads a configuration file and checks its plain data (unknown keys are errors; no compiled
/// checks: see [`load_file_with`]).
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    load_file_with(path, Strictness::Strict, &no_compiled_checks)
}

/// Reads and checks a configuration file with the given strictness, adding what `checks` finds
/// (`bulwark_server::Snapshot::check` compiles every section).
pub fn load_file_with(
    path: &Path,
    strictness: Strictness,
    checks: CompiledChecks<'_>,
) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str_with(&text, &path.display().to_string(), strictness, checks)
}

/// Parses configuration text and checks its plain data; `origin` names it in messages. Unknown
/// keys are errors; no compiled checks (see [`load_str_with`]).
pub fn load_str(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    load_str_with(text, origin, Strictness::Strict, &no_compiled_checks)
}

/// Parses and checks configuration text with the given strictness, adding what `checks` finds,
/// each finding placed on the line of its key.
pub fn load_str_with(
    text: &str,
    origin: &str,
    strictness: Strictness,
    checks: CompiledChecks<'_>,
) -> Result<Loaded, ConfigError> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let doc = match toml_edit::ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            // Not TOML at all: nothing further can be read reliably.
            errors.push(Diagnostic {
                line: e.span().map(|s| line_of(text, s.start)),
                key: None,
                message: format!("not valid TOML: {}", e.message().trim()),
            });
            return Err(invalid(origin, errors, warnings));
        }
    };
    let locate = |key: &str| key_line(&doc, text, key);
    let (config, unknown) = deserialize_all(text, &mut errors);
    for key in unknown {
        let suggestion = config
            .as_ref()
            .and_then(|c| did_you_mean(c, &key))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        let d = Diagnostic {
            line: locate(&key),
            key: Some(key),
            message: match strictness {
                Strictness::Strict => format!("unknown key{suggestion}"),
                Strictness::Lenient => format!("unknown key (ignored){suggestion}"),
            },
        };
        match strictness {
            Strictness::Strict => errors.push(d),
            Strictness::Lenient => warnings.push(d),
        }
    }
    let Some(config) = config else {
        return Err(invalid(origin, errors, warnings));
    };
    validate(&config, &mut |key: &str, message: String, fatal: bool| {
        let d = Diagnostic {
            line: locate(key),
            key: Some(key.to_string()),
            message,
        };
        if fatal {
            errors.push(d)
        } else {
            warnings.push(d)
        }
    });
    let found = checks(&config);
    for (problems, fatal) in [(found.errors, true), (found.warnings, false)] {
        for p in problems {
            let d = Diagnostic {
                line: locate(&p.key),
                key: Some(p.key),
                message: p.message,
            };
            if fatal {
                errors.push(d)
            } else {
                warnings.push(d)
            }
        }
    }
    errors.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
    if errors.is_empty() {
        Ok(Loaded { config, warnings })
    } else {
        Err(invalid(origin, errors, warnings))
    }
}

fn invalid(origin: &str, errors: Vec<Diagnostic>, warnings: Vec<Diagnostic>) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        errors,
        warnings,
    }
}

/// Deserializes `text`, collecting every value error: after each one the offending lines are
/// blanked (line numbers kept) and the rest is read again. Returns the configuration read
/// without the bad values (`None` when even that fails) and the unknown keys.
fn deserialize_all(text: &str, errors: &mut Vec<Diagnostic>) -> (Option<Config>, Vec<String>) {
    let mut current = text.to_string();
    for _ in 0..MAX_ERRORS {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::new(&current);
        match serde_ignored::deserialize(de, |path| unknown.push(path.to_string())) {
            Ok(c) => return (Some(c), unknown),
            Err(e) => {
                let span = e.span();
                errors.push(Diagnostic {
                    line: span.as_ref().map(|s| line_of(&current, s.start)),
                    key: span.as_ref().and_then(|s| key_at(&current, s.start)),
                    message: plain(e.message()),
                });
                let Some(span) = span else {
                    return (None, Vec::new());
                };
                let next = blank_lines(&current, span.start, span.end);
                if next == current || toml_edit::ImDocument::parse(next.as_str()).is_err() {
                    return (None, Vec::new());
                }
                current = next;
            }
        }
    }
    (None, Vec::new())
}

/// The key written on the line of byte `offset` (`key = value`), if the line starts with one,
/// prefixed with the `[table]` (or `[[table]]`) it is written in.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"');
    if k.is_empty() || k.starts_with('[') {
        return None;
    }
    let table = text[..start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{k}"),
        _ => k.to_string(),
    })
}

/// `text` with every line touched by `start..end` turned into a comment of the same length.
fn blank_lines(text: &str, start: usize, end: usize) -> String {
    let from = text[..start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let to = text[end.max(start).min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| end.max(start).min(text.len()) + i);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..from]);
    let mut line_start = true;
    for c in text[from..to].chars() {
        if c == '\n' {
            out.push('\n');
            line_start = true;
        } else {
            out.push(if line_start { '#' } else { ' ' });
            line_start = false;
        }
    }
    out.push_str(&text[to..]);
    out
}

/// serde's wording, said the way an administrator reads it.
fn plain(message: &str) -> String {
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found)
            );
        }
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let options = expected.trim_start_matches("one of ").replace('`', "\"");
            return format!("{} is not one of: {options}", found.replace('`', "\""));
        }
    }
    if let Some(rest) = m.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found)
            );
        }
    }
    m.to_string()
}

fn expected_words(e: &str) -> String {
    let e = e.trim();
    let kind = match e {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number (no quotes)"
        }
        "f32" | "f64" => "a number",
        "a boolean" => "true or false (no quotes)",
        "a string" => "text in quotes",
        "a sequence" => "a list, e.g. [\"a\", \"b\"]",
        "a map" => "a table",
        _ if e.starts_with("struct ") => "a table",
        _ => return e.to_string(),
    };
    kind.to_string()
}

fn found_words(f: &str) -> String {
    let f = f.trim();
    if let Some(s) = f.strip_prefix("string ") {
        return format!("the text {s}");
    }
    for (prefix, what) in [
        ("integer ", "the number "),
        ("floating point ", "the number "),
        ("boolean ", ""),
    ] {
        if let Some(v) = f.strip_prefix(prefix) {
            return format!("{what}{}", v.trim_matches('`'));
        }
    }
    match f {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        _ => f.to_string(),
    }
}

/// The known key closest to the unknown `dotted` key, among its siblings in the effective
/// configuration (every field is serialized, so the siblings are the schema's keys).
fn did_you_mean(config: &Config, dotted: &str) -> Option<String> {
    let value = toml::Value::try_from(config).ok()?;
    let (parent, unknown) = match dotted.rsplit_once('.') {
        Some((p, k)) => (Some(p), k),
        None => (None, dotted),
    };
    let mut table = value.as_table()?;
    if let Some(parent) = parent {
        let mut cur = &value;
        for seg in parent.split('.') {
            cur = match cur {
                toml::Value::Table(t) => t.get(seg)?,
                toml::Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        table = cur.as_table()?;
    }
    let best = table
        .keys()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)?;
    Some(match parent {
        Some(p) => format!("{p}.{}", best.1),
        None => best.1.clone(),
    })
}
