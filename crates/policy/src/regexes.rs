//! Regular expressions of the policy (group URLs, filter exclusions): compiled with a size
//! limit, each bad one reported under its key.

use regex::{Regex, RegexBuilder};

use crate::PolicyError;

/// Whether any regex matches `url` as given or without its scheme (`http://`…).
pub(crate) fn url_matches(res: &[Regex], url: &str) -> bool {
    let bare = url.split_once("://").map(|(_, rest)| rest);
    res.iter()
        .any(|r| r.is_match(url) || bare.is_some_and(|b| r.is_match(b)))
}

/// Compiles configured regular expressions, reporting each bad one under `key`.
pub(crate) fn compile_regexes(
    patterns: &[String],
    key: &str,
    case_insensitive: bool,
    errors: &mut Vec<PolicyError>,
) -> Vec<Regex> {
    let mut out = Vec::new();
    for p in patterns {
        match RegexBuilder::new(p)
            .case_insensitive(case_insensitive)
            .size_limit(1 << 20)
            .build()
        {
            Ok(r) => out.push(r),
            Err(e) => errors.push(PolicyError::new(
                key.to_string(),
                format!("`{p}` is not a valid regular expression: {e}"),
            )),
        }
    }
    out
}
