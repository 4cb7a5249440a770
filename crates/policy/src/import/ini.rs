//! kav4proxy.conf's INI dialect: `[section]` or `[section:group]`, `Key=Value` (keys may
//! repeat), comments starting with `#` or `;`.

use super::ImportError;

/// One `Key=Value` line with its section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// Section name without the group suffix, lower case (`icapserver.actions`).
    pub section: String,
    /// The `:group` suffix, when there is one.
    pub group: Option<String>,
    /// The key as written.
    pub key: String,
    /// The value, trimmed; surrounding double quotes removed.
    pub value: String,
}

/// A `[section(:group)]` header with its line, so that empty group sections are seen too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    /// 1-based line number.
    pub line: usize,
    /// Section name, lower case.
    pub section: String,
    /// The `:group` suffix.
    pub group: Option<String>,
}

/// Parses the text into headers and entries; a line that is none of the above is an error.
pub(super) fn parse(text: &str) -> Result<(Vec<Header>, Vec<Entry>), ImportError> {
    let mut headers = Vec::new();
    let mut entries = Vec::new();
    let mut current: Option<(String, Option<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(inner) = l.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(|| ImportError::Syntax {
                line,
                message: "a section header must end with `]`".into(),
            })?;
            let (section, group) = match inner.split_once(':') {
                Some((s, g)) => (s.trim(), Some(g.trim().to_string())),
                None => (inner.trim(), None),
            };
            if section.is_empty() || group.as_deref() == Some("") {
                return Err(ImportError::Syntax {
                    line,
                    message: "empty section or group name".into(),
                });
            }
            let section = section.to_ascii_lowercase();
            headers.push(Header {
                line,
                section: section.clone(),
                group: group.clone(),
            });
            current = Some((section, group));
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            return Err(ImportError::Syntax {
                line,
                message: format!("expected `Key=Value` or `[section]`, found `{l}`"),
            });
        };
        let Some((section, group)) = current.clone() else {
            return Err(ImportError::Syntax {
                line,
                message: "a key before any [section]".into(),
            });
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        entries.push(Entry {
            line,
            section,
            group,
            key: key.trim().to_string(),
            value: value.to_string(),
        });
    }
    Ok((headers, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_groups_repeats_comments() {
        let t = "# c\n[path]\nTempPath = /tmp\n\n[icapserver.filter:Managers]\n; x\nExcludeURL=a\nExcludeURL=\"b\"\n";
        let (h, e) = parse(t).expect("parses");
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].group.as_deref(), Some("Managers"));
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].line, e[0].value.as_str()), (3, "/tmp"));
        assert_eq!((e[2].line, e[2].value.as_str()), (8, "b"));
        assert_eq!(e[2].section, "icapserver.filter");
    }

    #[test]
    fn syntax_errors_have_lines() {
        assert!(matches!(
            parse("x=1"),
            Err(ImportError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse("[a]\n\nnonsense"),
            Err(ImportError::Syntax { line: 3, .. })
        ));
        assert!(matches!(
            parse("[a"),
            Err(ImportError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse("[a:]"),
            Err(ImportError::Syntax { line: 1, .. })
        ));
    }
}
