//! Secrets shared by the listeners that take a bearer token (the console, the scanning API):
//! the token in force ([`configured_token`]: the configured value, else the first line of a
//! token file) and a comparison whose time does not depend on where two secrets differ
//! ([`same_secret`]). Each listener wraps `configured_token` with its own section's keys; a
//! new listener that takes a token should do the same rather than compare strings with `==`.

use std::path::Path;

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token in force: `token`, else the first line of `token_file` (surrounding white
/// space ignored); `None` when neither gives one. `file_key` names the key in the warning
/// logged when the file cannot be read (e.g. `console.token_file`).
pub fn configured_token(
    token: Option<&str>,
    token_file: Option<&Path>,
    file_key: &str,
) -> Option<String> {
    if let Some(t) = token {
        let t = t.trim();
        return (!t.is_empty()).then(|| t.to_string());
    }
    let path = token_file?;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let t = text.lines().next().unwrap_or("").trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), "{file_key} unreadable: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_tokens() {
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
        assert_eq!(
            configured_token(Some(" t "), None, "k").as_deref(),
            Some("t")
        );
        assert_eq!(configured_token(Some("  "), None, "k"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("token");
        std::fs::write(&f, "  from-file \nsecond\n").expect("write");
        assert_eq!(
            configured_token(None, Some(&f), "k").as_deref(),
            Some("from-file")
        );
        assert_eq!(
            configured_token(None, Some(&dir.path().join("no")), "k"),
            None
        );
    }
}
