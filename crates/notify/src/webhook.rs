//! The webhook: one JSON `POST` per message with `ureq` (rustls + ring) on a blocking thread.

use std::time::Duration;

use crate::DeliveryError;

/// Bytes of a failed answer's body kept for the log.
const MAX_BODY_BYTES: u64 = 2048;

/// A reusable webhook client for one URL.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &redact(&self.url))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `scheme://host[:port]/…` of `url`: webhook paths and user info often carry secrets.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}/…")
}

impl Webhook {
    /// A client posting to `url`, each request bounded by `timeout` (connect to last byte).
    /// It connects directly (proxy environment variables are ignored) and does not follow
    /// redirects: a 3xx answer is a failure like any other non-2xx.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("bulwark-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            url: url.to_string(),
            agent,
            timeout,
        }
    }

    /// Posts `json`; `Ok` on a 2xx answer. Never takes much longer than the timeout: the
    /// blocking request is abandoned (and ends by its own timeout) if it does.
    pub async fn post(&self, json: String) -> Result<u16, DeliveryError> {
        let this = self.clone();
        let task = tokio::task::spawn_blocking(move || this.post_blocking(json.as_bytes()));
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DeliveryError::Transport(format!("task failed: {join}"))),
            Err(_) => Err(DeliveryError::Timeout(self.timeout)),
        }
    }

    /// The URL without path, query or user info, for logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    fn post_blocking(&self, body: &[u8]) -> Result<u16, DeliveryError> {
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => DeliveryError::Timeout(self.timeout),
                other => DeliveryError::Transport(other.to_string()),
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(status);
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .unwrap_or_default();
        Err(DeliveryError::Http {
            status,
            body: body.trim_end().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let w = Webhook::new(
            "https://u:pw@hooks.example:8443/T0/B1/secret?x=1",
            Duration::from_secs(1),
        );
        assert_eq!(w.redacted_url(), "https://hooks.example:8443/…");
        assert!(!format!("{w:?}").contains("secret"));
    }
}
