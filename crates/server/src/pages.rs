//! Block pages: the HTML a user sees instead of a blocked object.

use bulwark_engine::Verdict;

/// What a block page says.
#[derive(Debug, Clone)]
pub struct PageInfo<'a> {
    /// The URL of the blocked object.
    pub url: &'a str,
    /// The client's address, if known.
    pub client: Option<&'a str>,
    /// The verdict that caused the block.
    pub verdict: &'a Verdict,
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the built-in block page. Every value is HTML-escaped; the page needs no external
/// asset.
pub fn render(info: &PageInfo<'_>) -> String {
    let threats = if info.verdict.threats.is_empty() {
        "<li>(no name)</li>".to_string()
    } else {
        info.verdict
            .threats
            .iter()
            .map(|t| {
                if t.path.is_empty() {
                    format!("<li>{}</li>", html_escape(&t.name))
                } else {
                    format!(
                        "<li>{} in <code>{}</code></li>",
                        html_escape(&t.name),
                        html_escape(&t.path)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Blocked: {status}</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}}\
h1{{color:#a00}}code{{word-break:break-all}}</style></head><body>\
<h1>The requested object was blocked</h1>\
<p>URL: <code>{url}</code></p><p>Verdict: <strong>{status}</strong></p><ul>{threats}</ul>\
<p>Client: {client}</p><p><small>Bulwark {version}</small></p></body></html>\n",
        status = info.verdict.status,
        url = html_escape(info.url),
        client = html_escape(info.client.unwrap_or("unknown")),
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::Threat;

    #[test]
    fn values_are_escaped() {
        let v = Verdict::infected(vec![Threat::new("<b>x</b>", "a.zip/<i>")]);
        let page = render(&PageInfo {
            url: "http://e.test/?q=<script>alert(1)</script>",
            client: Some("127.0.0.1"),
            verdict: &v,
        });
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt; in <code>a.zip/&lt;i&gt;</code>"));
    }
}
