//! Filters: which objects are scanned, decided from the HTTP heads and, when a Content-Type
//! exclusion is in play, from the first bytes.

use regex::Regex;

use crate::regexes::{compile_regexes, url_matches};
use crate::sniff::{self, SNIFF_BYTES};
use crate::templates::Template;
use crate::PolicyError;
use bulwark_config::policy::{Action, FilterConfig, GroupConfig, PartialAction};

/// What the server knows about an object when it asks [`crate::Group::filter`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectInfo<'a> {
    /// The HTTP request method (`GET`, `POST`, `CONNECT`…).
    pub method: &'a str,
    /// The request URL.
    pub url: &'a str,
    /// The object's `Content-Type`, parameters included or not.
    pub content_type: Option<&'a str>,
    /// The object's `Content-Length`, when known.
    pub content_length: Option<u64>,
    /// The HTTP response status (RESPMOD); `None` for a request body (REQMOD).
    pub http_status: Option<u16>,
    /// `None`: the body's bytes are not known yet. `Some(b)`: its first bytes, at least
    /// [`SNIFF_BYTES`] of them, or the whole body when it is shorter.
    pub first_bytes: Option<&'a [u8]>,
}

/// Why an object is delivered without a scan (for counters and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The method is in `filter.skip_methods` (`CONNECT`, `HEAD`).
    Method,
    /// The URL matches `filter.exclude_urls`.
    ExcludedUrl,
    /// The Content-Type matches `filter.exclude_mime_types` and the content does not look
    /// like a type in `filter.always_scan_types`.
    ExcludedMimeType,
    /// Over `filter.max_req_length` and `actions.too_large` is `skip`.
    TooLarge,
    /// An HTTP 206 response and `filter.partial_response` is `skip`.
    PartialResponse,
}

/// The outcome of [`crate::Group::filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterDecision {
    /// Scan the object, then apply [`crate::Group::action`] to its status.
    Scan,
    /// Deliver it unscanned.
    Skip(SkipReason),
    /// Block it unscanned with this block page (too large with `actions.too_large = "deny"`,
    /// or a 206 with `filter.partial_response = "deny"`).
    Deny(Template),
    /// Undecided: call again with `first_bytes` holding at least this many bytes (or the
    /// whole body when it is shorter). Only returned while `first_bytes` is `None`.
    NeedBytes(usize),
}

/// The filter's compiled regular expressions.
#[derive(Debug, Clone)]
pub(crate) struct CompiledFilter {
    exclude_urls: Vec<Regex>,
    exclude_mime_types: Vec<Regex>,
}

impl CompiledFilter {
    pub(crate) fn compile(c: &FilterConfig, key: &str, errors: &mut Vec<PolicyError>) -> Self {
        for t in &c.always_scan_types {
            if !sniff::is_known_name(&t.to_ascii_lowercase()) {
                errors.push(PolicyError::new(
                    format!("{key}.always_scan_types"),
                    format!("`{t}` is not a known file kind (executable, archive, document, image, audio, video) or type (pe, elf, zip, pdf…)"),
                ));
            }
        }
        for m in &c.skip_methods {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                errors.push(PolicyError::new(
                    format!("{key}.skip_methods"),
                    format!("`{m}` is not an HTTP method"),
                ));
            }
        }
        Self {
            exclude_urls: compile_regexes(
                &c.exclude_urls,
                &format!("{key}.exclude_urls"),
                false,
                errors,
            ),
            exclude_mime_types: compile_regexes(
                &c.exclude_mime_types,
                &format!("{key}.exclude_mime_types"),
                true,
                errors,
            ),
        }
    }
}

impl CompiledFilter {
    /// [`crate::Group::filter`]'s decision, with the group's configuration `g`.
    pub(crate) fn decide(&self, g: &GroupConfig, o: &ObjectInfo<'_>) -> FilterDecision {
        let c = &g.filter;
        if c.skip_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(o.method.trim()))
        {
            return FilterDecision::Skip(SkipReason::Method);
        }
        if url_matches(&self.exclude_urls, o.url) {
            return FilterDecision::Skip(SkipReason::ExcludedUrl);
        }
        if o.http_status == Some(206) {
            match c.partial_response {
                PartialAction::Scan => {}
                PartialAction::Skip => return FilterDecision::Skip(SkipReason::PartialResponse),
                PartialAction::Deny => return FilterDecision::Deny(Template::ObjectPartial),
            }
        }
        if self.mime_excluded(o.content_type) {
            if c.always_scan_types.is_empty() {
                return FilterDecision::Skip(SkipReason::ExcludedMimeType);
            }
            let Some(bytes) = o.first_bytes else {
                return FilterDecision::NeedBytes(SNIFF_BYTES);
            };
            let forced =
                sniff::sniff(bytes).is_some_and(|t| sniff::listed(t, &c.always_scan_types));
            if !forced {
                return FilterDecision::Skip(SkipReason::ExcludedMimeType);
            }
        }
        if o.content_length
            .is_some_and(|n| max_req_length(g).is_some_and(|max| n > max))
        {
            return too_large(g);
        }
        FilterDecision::Scan
    }

    fn mime_excluded(&self, content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return false;
        };
        let essence = ct.split(';').next().unwrap_or("").trim();
        !essence.is_empty() && self.exclude_mime_types.iter().any(|r| r.is_match(essence))
    }
}

/// The size limit in bytes of a group configured as `g` (`filter.max_req_length`), `None`
/// without one.
pub(crate) fn max_req_length(g: &GroupConfig) -> Option<u64> {
    Some(g.filter.max_req_length).filter(|&n| n > 0)
}

/// The decision for an object over a group's size limit (`actions.too_large`).
pub(crate) fn too_large(g: &GroupConfig) -> FilterDecision {
    match g.actions.too_large {
        Action::Skip => FilterDecision::Skip(SkipReason::TooLarge),
        Action::Deny | Action::Cure => FilterDecision::Deny(Template::ObjectTooLarge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::Group;
    use bulwark_config::policy::GroupConfig;

    fn group(f: impl FnOnce(&mut GroupConfig)) -> Group {
        let mut c = GroupConfig::default();
        f(&mut c);
        let mut e = Vec::new();
        let g = Group::compile(&c, "policy.default", true, &mut e);
        assert!(e.is_empty(), "{e:?}");
        g
    }

    fn get<'a>(url: &'a str, ct: Option<&'a str>, bytes: Option<&'a [u8]>) -> ObjectInfo<'a> {
        ObjectInfo {
            method: "GET",
            url,
            content_type: ct,
            http_status: Some(200),
            first_bytes: bytes,
            ..ObjectInfo::default()
        }
    }

    #[test]
    fn methods_and_urls() {
        let g = group(|c| c.filter.exclude_urls = vec![r"^www\.example\.com/".into()]);
        let mut o = get("http://a.test/", None, None);
        assert_eq!(g.filter(&o), FilterDecision::Scan);
        o.method = "connect";
        assert_eq!(g.filter(&o), FilterDecision::Skip(SkipReason::Method));
        o.method = "HEAD";
        assert_eq!(g.filter(&o), FilterDecision::Skip(SkipReason::Method));
        let o = get("http://www.example.com/x.exe", None, None);
        assert_eq!(g.filter(&o), FilterDecision::Skip(SkipReason::ExcludedUrl));
    }

    #[test]
    fn sniffing_overrides_mime_exclusion() {
        let g = group(|_| {});
        let heads = get("http://a.test/v", Some("Video/MP4; codecs=avc1"), None);
        assert_eq!(g.filter(&heads), FilterDecision::NeedBytes(SNIFF_BYTES));
        let exe = get(
            "http://a.test/v",
            Some("video/mp4"),
            Some(b"MZ\x90\x00\x03"),
        );
        assert_eq!(g.filter(&exe), FilterDecision::Scan);
        let mp4 = get(
            "http://a.test/v",
            Some("video/mp4"),
            Some(b"\0\0\0\x18ftypmp42"),
        );
        assert_eq!(
            g.filter(&mp4),
            FilterDecision::Skip(SkipReason::ExcludedMimeType)
        );
        let empty = get("http://a.test/v", Some("video/mp4"), Some(b""));
        assert_eq!(
            g.filter(&empty),
            FilterDecision::Skip(SkipReason::ExcludedMimeType)
        );
        let html = get("http://a.test/", Some("text/html"), None);
        assert_eq!(g.filter(&html), FilterDecision::Scan);
        let trusting = group(|c| c.filter.always_scan_types.clear());
        assert_eq!(
            trusting.filter(&heads),
            FilterDecision::Skip(SkipReason::ExcludedMimeType)
        );
    }

    #[test]
    fn size_and_partial_responses() {
        let g = group(|c| c.filter.max_req_length = 1000);
        let mut o = get("http://a.test/big", Some("application/octet-stream"), None);
        o.content_length = Some(1001);
        assert_eq!(g.filter(&o), FilterDecision::Skip(SkipReason::TooLarge));
        o.content_length = Some(1000);
        assert_eq!(g.filter(&o), FilterDecision::Scan);
        let strict = group(|c| {
            c.filter.max_req_length = 10;
            c.actions.too_large = Action::Deny;
            c.filter.partial_response = PartialAction::Deny;
        });
        o.content_length = Some(11);
        assert_eq!(
            strict.filter(&o),
            FilterDecision::Deny(Template::ObjectTooLarge)
        );
        assert_eq!(strict.max_req_length(), Some(10));
        o.http_status = Some(206);
        assert_eq!(
            strict.filter(&o),
            FilterDecision::Deny(Template::ObjectPartial)
        );
        o.content_length = Some(1);
        assert_eq!(g.filter(&o), FilterDecision::Scan);
        let skip = group(|c| c.filter.partial_response = PartialAction::Skip);
        assert_eq!(
            skip.filter(&o),
            FilterDecision::Skip(SkipReason::PartialResponse)
        );
    }

    #[test]
    fn bad_filter_values_are_errors() {
        let mut c = GroupConfig::default();
        c.filter.always_scan_types = vec!["exe".into()];
        c.filter.skip_methods = vec!["GE T".into()];
        c.filter.exclude_mime_types = vec!["[".into()];
        let mut e = Vec::new();
        Group::compile(&c, "policy.group.2", false, &mut e);
        let keys: Vec<_> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "policy.group.2.filter.always_scan_types",
                "policy.group.2.filter.skip_methods",
                "policy.group.2.filter.exclude_mime_types"
            ]
        );
    }
}
