//! `[notify]`: administrator notifications (sent by the `bulwark-notify` crate); plain data
//! with a default for every key; [`NotifyConfig::validate`] checks it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::KeyProblem;

/// Every event kind `[notify] events` accepts, as the notifier spells it (`Event::kind`).
pub const EVENT_KINDS: [&str; 7] = [
    "detection",
    "update_done",
    "update_failed",
    "database_old",
    "license_expiring",
    "engine_error",
    "reload_failed",
];

/// `[notify]`: where administrator notifications go and how they are throttled.
///
/// ```toml
/// [notify]
/// script = "/etc/bulwark/notify.sh"            # kav4proxy NotifyScript; optional
/// webhook = "https://hooks.example.com/bulwark" # optional
/// events = ["detection", "update_failed", "database_old", "license_expiring",
///           "engine_error", "reload_failed"]
/// dedup_window_secs = 300
/// max_per_minute = 30
/// timeout_secs = 10
/// queue = 1000
/// ```
///
/// With neither `script` nor `webhook` set, notifications are off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Program run for every event (kav4proxy's `NotifyScript`): executed directly, never
    /// through a shell, with the event as arguments, environment variables and JSON on
    /// stdin (see the crate documentation). Must be an absolute path. Unset: no script.
    pub script: Option<PathBuf>,
    /// URL (`http://` or `https://`) that receives every event as a JSON `POST`.
    /// Unset: no webhook.
    pub webhook: Option<String>,
    /// Event kinds to send: `detection`, `update_done`, `update_failed`, `database_old`,
    /// `license_expiring`, `engine_error`, `reload_failed`, or `all`. Default: all of them.
    pub events: Vec<String>,
    /// The same event (same kind and key fields, e.g. detection + threats + client) is sent
    /// at most once per this many seconds; the number of repeats held back is reported in
    /// the next one sent (`repeats`). 0 turns deduplication off.
    pub dedup_window_secs: u64,
    /// At most this many events are sent in any 60 seconds, all kinds together; the excess
    /// is dropped and counted (`dropped` in the next one sent). 0 means no limit.
    pub max_per_minute: u32,
    /// A script still running, or a webhook not answered, after this many seconds is killed
    /// or abandoned, and counted as failed. At least 1.
    pub timeout_secs: u64,
    /// Events waiting for delivery; when full, new events are dropped and counted (the
    /// caller never waits). At least 1.
    pub queue: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            script: None,
            webhook: None,
            events: EVENT_KINDS.iter().map(|k| k.to_string()).collect(),
            dedup_window_secs: 300,
            max_per_minute: 30,
            timeout_secs: 10,
            queue: 1000,
        }
    }
}

impl NotifyConfig {
    /// True when at least one target (script or webhook) is configured.
    pub fn is_enabled(&self) -> bool {
        self.script.is_some() || self.webhook.is_some()
    }

    /// True when events of `kind` are to be sent (listed in `events`, or `all` is).
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == kind || e == "all")
    }

    /// Checks every key; returns all problems found. Does not look at the file system (the
    /// script may be installed after the configuration is checked).
    pub fn validate(&self) -> Result<(), Vec<KeyProblem>> {
        let mut errors = Vec::new();
        if let Some(script) = &self.script {
            if !script.is_absolute() {
                errors.push(KeyProblem::new(
                    "notify.script",
                    format!("`{}`: must be an absolute path", script.display()),
                ));
            }
        }
        if let Some(url) = &self.webhook {
            if let Err(message) = check_url(url) {
                errors.push(KeyProblem::new(
                    "notify.webhook",
                    format!("`{url}`: {message}"),
                ));
            }
        }
        for (i, kind) in self.events.iter().enumerate() {
            if kind != "all" && !EVENT_KINDS.contains(&kind.as_str()) {
                errors.push(KeyProblem::new(
                    format!("notify.events.{i}"),
                    format!(
                        "`{kind}`: expected all or one of {}",
                        EVENT_KINDS.join(", ")
                    ),
                ));
            }
        }
        if self.timeout_secs == 0 {
            errors.push(KeyProblem::new("notify.timeout_secs", "must be at least 1"));
        }
        if self.queue == 0 {
            errors.push(KeyProblem::new("notify.queue", "must be at least 1"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Checks that `url` is `http://host…` or `https://host…` with no whitespace.
fn check_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("missing host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_from_empty_toml_and_round_trip() {
        let c: NotifyConfig = toml::from_str("").expect("parses");
        assert_eq!(c, NotifyConfig::default());
        assert!(!c.is_enabled());
        assert!(c.wants("detection") && c.wants("reload_failed"));
        assert_eq!((c.dedup_window_secs, c.max_per_minute), (300, 30));
        assert_eq!((c.timeout_secs, c.queue), (10, 1000));
        let text = toml::to_string(&c).expect("serializes");
        assert_eq!(toml::from_str::<NotifyConfig>(&text).expect("parses"), c);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn keys_are_snake_case() {
        let c: NotifyConfig = toml::from_str(
            "script = \"/x/n.sh\"\nwebhook = \"https://h:8443/p\"\nevents = [\"detection\"]\n\
             dedup_window_secs = 0\nmax_per_minute = 0\ntimeout_secs = 2\nqueue = 5\n",
        )
        .expect("parses");
        assert!(c.is_enabled() && c.wants("detection") && !c.wants("update_done"));
        assert!(c.validate().is_ok());
        let all: NotifyConfig = toml::from_str("events = [\"all\"]").expect("parses");
        assert!(all.wants("engine_error"));
    }

    #[test]
    fn validate_reports_every_bad_key() {
        let c = NotifyConfig {
            script: Some("notify.sh".into()),
            webhook: Some("ftp://x".into()),
            events: vec!["detection".into(), "bogus".into()],
            timeout_secs: 0,
            queue: 0,
            ..NotifyConfig::default()
        };
        let keys: Vec<String> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "notify.script",
                "notify.webhook",
                "notify.events.1",
                "notify.timeout_secs",
                "notify.queue"
            ]
        );
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:80/x").is_ok());
        assert!(check_url("https://u:p@example.com").is_ok());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("http://:80/").is_err());
        assert!(check_url("http://a b/").is_err());
        assert!(check_url("example.com").is_err());
    }
}
