//! `[cluster]`: what instances of a fleet share through Redis (SPEC F-FLEET-2).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[cluster]`: the blocked-object cache and the verdict cache shared by every instance through
/// one Redis (off unless `redis` is set). Redis slow or down never fails a request: the
/// instance falls back to its local caches, warns, and shares again once Redis answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// The Redis to share through: `redis://host:6379/0`, or `rediss://host:6380/0` for TLS;
    /// a user and password may be written in it (`redis://bulwark:secret@host:6379/0`), or
    /// given by `username` and `password_file`. Empty (default): nothing is shared.
    pub redis: String,
    /// The Redis ACL user (instead of one in the URL); unset: the URL's, else `default`.
    pub username: Option<String>,
    /// A file whose first line is the Redis password (instead of one in the URL, to keep it
    /// out of the configuration file); it wins over the URL's.
    pub password_file: Option<PathBuf>,
    /// CA certificates (PEM) the Redis server's certificate must chain to, for `rediss://`;
    /// unset: the system's trusted roots.
    pub ca_file: Option<PathBuf>,
    /// What every key starts with, so several fleets (or other applications) can share one
    /// Redis.
    pub prefix: String,
    /// Most milliseconds a lookup waits for Redis before the transaction goes on with the
    /// local caches only (a slow or stopped Redis costs each transaction at most this).
    pub timeout_ms: u64,
    /// Share the blocked-object cache: a download found infected on one instance is blocked
    /// at once on all, for `answer.blocked_url_ttl_secs`.
    pub share_blocked: bool,
    /// Share the verdict cache: an archive, executable or encoded object scanned on one
    /// instance is not unpacked again on another (same content, database and options).
    pub share_verdicts: bool,
    /// Seconds a shared verdict stays in Redis (keys name the database version, so an update
    /// makes older ones unreachable; they expire by this).
    pub verdict_ttl_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis: String::new(),
            username: None,
            password_file: None,
            ca_file: None,
            prefix: "bulwark:".into(),
            timeout_ms: 20,
            share_blocked: true,
            share_verdicts: true,
            verdict_ttl_secs: 6 * 3600,
        }
    }
}

/// Longest `verdict_ttl_secs` accepted (a week): every shared key expires.
pub const MAX_VERDICT_TTL_SECS: u64 = 7 * 24 * 3600;

/// Longest `timeout_ms` accepted: a lookup may never hold a transaction for long.
pub const MAX_TIMEOUT_MS: u64 = 1000;

/// The semantic checks of `[cluster]`; `report(key, message, fatal)`.
pub(crate) fn validate(c: &ClusterConfig, report: &mut dyn FnMut(&str, String, bool)) {
    if c.redis.is_empty() {
        return;
    }
    let scheme = c.redis.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("redis" | "rediss")) {
        report(
            "cluster.redis",
            "must start with redis:// or rediss:// (TLS)".into(),
            true,
        );
    }
    if c.timeout_ms == 0 || c.timeout_ms > MAX_TIMEOUT_MS {
        report(
            "cluster.timeout_ms",
            format!("must be between 1 and {MAX_TIMEOUT_MS}"),
            true,
        );
    }
    if c.verdict_ttl_secs == 0 || c.verdict_ttl_secs > MAX_VERDICT_TTL_SECS {
        report(
            "cluster.verdict_ttl_secs",
            format!("must be between 1 and {MAX_VERDICT_TTL_SECS} (a week)"),
            true,
        );
    }
    if c.prefix.is_empty() || c.prefix.len() > 64 || c.prefix.contains(char::is_whitespace) {
        report(
            "cluster.prefix",
            "needs 1 to 64 characters without spaces".into(),
            true,
        );
    }
    if c.ca_file.is_some() && scheme != Some("rediss") {
        report(
            "cluster.ca_file",
            "only used with rediss:// (TLS)".into(),
            false,
        );
    }
    // The host part: after the scheme and any user:password@, up to the database path.
    let authority = c
        .redis
        .split_once("://")
        .map(|(_, r)| r.rsplit_once('@').map_or(r, |(_, h)| h))
        .unwrap_or("");
    let loopback = ["localhost", "127.", "[::1]"]
        .iter()
        .any(|p| authority.starts_with(p));
    if scheme == Some("redis") && !loopback {
        report(
            "cluster.redis",
            "plain redis:// beyond loopback: verdicts and any password cross the network \
             unencrypted (use rediss://)"
                .into(),
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &ClusterConfig) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        validate(c, &mut |k, _, fatal| out.push((k.to_string(), fatal)));
        out
    }

    #[test]
    fn urls_timeouts_and_ttls_are_checked() {
        assert!(check(&ClusterConfig::default()).is_empty());
        let ok = ClusterConfig {
            redis: "redis://127.0.0.1:6379/0".into(),
            ..ClusterConfig::default()
        };
        assert!(check(&ok).is_empty());
        let bad = ClusterConfig {
            redis: "http://x".into(),
            timeout_ms: 0,
            verdict_ttl_secs: 0,
            prefix: String::new(),
            ..ClusterConfig::default()
        };
        let errs = check(&bad);
        for k in [
            "cluster.redis",
            "cluster.timeout_ms",
            "cluster.verdict_ttl_secs",
            "cluster.prefix",
        ] {
            assert!(errs.contains(&(k.to_string(), true)), "{k}: {errs:?}");
        }
        let remote = ClusterConfig {
            redis: "redis://u:p@redis.example:6379".into(),
            ..ClusterConfig::default()
        };
        assert_eq!(check(&remote), vec![("cluster.redis".to_string(), false)]);
        let tls = ClusterConfig {
            redis: "rediss://redis.example:6380".into(),
            ..ClusterConfig::default()
        };
        assert!(check(&tls).is_empty());
    }
}
