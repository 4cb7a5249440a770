//! The JSON answers: a scan report from a deep verdict (the pure core of `POST /v1/scan`),
//! the database description, and errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_containers::heuristics::heuristic_name;
use bulwark_containers::DeepVerdict;
use bulwark_engine::Status;
use serde::{Deserialize, Serialize};

/// One threat found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatReport {
    /// The signature's name.
    pub name: String,
    /// Where inside the object (`archive.zip/dir/a.exe`); empty for the object itself.
    pub path: String,
}

/// The answer of `POST /v1/scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// `clean`, `infected`, `limits_exceeded`, `encrypted`, `corrupted` or `error`.
    pub status: String,
    /// The threats found (empty unless `infected`).
    pub threats: Vec<ThreatReport>,
    /// ClamAV's `Heuristics.*` name of a limit hit, an encrypted or a broken object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heuristic: Option<String>,
    /// Why the scan failed (status `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The object's size.
    pub bytes: u64,
    /// How long the scan took.
    pub duration_ms: u64,
    /// The signature database's version.
    pub database: String,
}

/// The API's name of a deep-scan status (threats found make any status `infected`, as for
/// ICAP and clamd, except a failed scan).
pub fn status_name(status: Status, has_threats: bool) -> &'static str {
    match status {
        Status::Error | Status::LicenseError | Status::BasesError | Status::TooLarge => "error",
        _ if has_threats => "infected",
        Status::Infected | Status::Suspicious | Status::Warning | Status::Cured => "infected",
        Status::LimitsExceeded => "limits_exceeded",
        Status::Protected => "encrypted",
        Status::Corrupted => "corrupted",
        Status::Clean => "clean",
    }
}

impl ScanReport {
    /// The report of a deep verdict on an object of `bytes` bytes starting with `head`.
    pub fn of(v: &DeepVerdict, head: &[u8], bytes: u64, duration_ms: u64, db: &str) -> Self {
        let status = status_name(v.verdict.status, !v.verdict.threats.is_empty());
        let reason = (status == "error").then(|| {
            v.notes.last().cloned().unwrap_or_else(|| {
                format!(
                    "scan failed ({})",
                    v.verdict.status.as_str().to_ascii_lowercase()
                )
            })
        });
        Self {
            status: status.to_string(),
            threats: if status == "infected" {
                v.verdict
                    .threats
                    .iter()
                    .map(|t| ThreatReport {
                        name: t.name.clone(),
                        path: t.path.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            heuristic: heuristic_name(v, head).map(str::to_string),
            reason,
            bytes,
            duration_ms,
            database: db.to_string(),
        }
    }
}

/// The answer of `GET /v1/database`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseReport {
    /// The database's version (changes whenever the signatures do).
    pub version: String,
    /// The signature sets, in load order.
    pub signature_sets: Vec<String>,
    /// True for the built-in EICAR test signature only.
    pub builtin: bool,
    /// When the running database was loaded (RFC 3339).
    pub loaded_at: String,
    /// Seconds since the signature files were last modified (absent for the built-in one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
}

/// `value` as a JSON answer with status `http`.
pub fn json(http: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (http, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// An error answer: HTTP status, machine-readable code, message, optional `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiFailure {
    /// The HTTP status.
    pub http: StatusCode,
    /// A short code (`unauthorized`, `too_many_attempts`, `too_large`, `busy`, …).
    pub code: &'static str,
    /// What happened.
    pub message: String,
    /// Seconds to wait before retrying.
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    /// A failure without `Retry-After`.
    pub fn new(http: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            http,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same failure, to be retried after `secs`.
    pub fn retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        let mut r = json(self.http, &body);
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.http == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bulwark\""),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::{Threat, Verdict};

    fn deep(status: Status, threats: &[&str]) -> DeepVerdict {
        DeepVerdict {
            verdict: Verdict {
                status,
                threats: threats.iter().map(|t| Threat::new(*t, "a.zip/x")).collect(),
                error: None,
            },
            cured: None,
            packers: Vec::new(),
            notes: Vec::new(),
            unpacked_bytes: 0,
        }
    }

    #[test]
    fn statuses_and_threats() {
        let r = ScanReport::of(&deep(Status::Infected, &["Eicar"]), b"", 68, 1, "v1");
        assert_eq!(r.status, "infected");
        assert_eq!(r.threats[0].path, "a.zip/x");
        let r = ScanReport::of(&deep(Status::LimitsExceeded, &[]), b"", 1, 1, "v1");
        assert_eq!(r.status, "limits_exceeded");
        assert!(r
            .heuristic
            .is_some_and(|h| h.starts_with("Heuristics.Limits")));
        let r = ScanReport::of(&deep(Status::Protected, &[]), b"PK\x03\x04", 1, 1, "v1");
        assert_eq!(
            (r.status.as_str(), r.heuristic.as_deref()),
            ("encrypted", Some("Heuristics.Encrypted.Zip"))
        );
        let r = ScanReport::of(&deep(Status::Error, &["X"]), b"", 1, 1, "v1");
        assert_eq!((r.status.as_str(), r.threats.len()), ("error", 0));
        assert!(r.reason.is_some());
        assert_eq!(status_name(Status::Clean, false), "clean");
        assert_eq!(status_name(Status::Corrupted, false), "corrupted");
    }
}
