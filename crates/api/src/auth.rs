//! Bearer tokens: the configured one, a constant-time comparison, and a bounded limit on
//! wrong tokens per client address (and over all addresses).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_config::ApiConfig;

/// Wrong tokens of all addresses together may be this many times the per-address allowance.
pub const GLOBAL_FACTOR: u32 = 5;

/// Most addresses remembered; beyond, the quiet ones are forgotten and, if none is, every
/// address shares the global allowance only.
const MAX_ADDRESSES: usize = 10_000;

/// The failure window.
const WINDOW: Duration = Duration::from_secs(60);

/// The bearer token in force: `token`, else the first line of `token_file`; `None` when
/// neither gives one (the API then refuses every request).
pub fn configured_token(cfg: &ApiConfig) -> Option<String> {
    bulwark_secret::configured_token(
        cfg.token.as_deref(),
        cfg.token_file.as_deref(),
        "api.token_file",
    )
}

pub use bulwark_secret::same_secret;

/// True when an `Authorization` header value carries `token` as a bearer token.
pub fn authorized(header: Option<&str>, token: Option<&str>) -> bool {
    let (Some(h), Some(t)) = (header, token) else {
        return false;
    };
    let Some((scheme, given)) = h.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && same_secret(given.trim(), t)
}

/// Wrong tokens per address, and in total, over the last minute.
#[derive(Debug)]
pub struct Limiter {
    max: u32,
    map: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    all: Mutex<VecDeque<Instant>>,
}

/// Drops the instants older than the window; seconds until the oldest left leaves it.
fn expire(q: &mut VecDeque<Instant>, now: Instant) -> u64 {
    while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        q.pop_front();
    }
    q.front()
        .map(|t| WINDOW.saturating_sub(now.duration_since(*t)).as_secs() + 1)
        .unwrap_or(1)
}

impl Limiter {
    /// A limiter allowing `max` wrong tokens per address per minute (at least 1).
    pub fn new(max: u32) -> Self {
        Self {
            max: max.max(1),
            map: Mutex::new(HashMap::new()),
            all: Mutex::new(VecDeque::new()),
        }
    }

    /// `Some(seconds to wait)` when `ip` (or everyone) used up the allowance.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let Ok(mut all) = self.all.lock() else {
            return Some(60);
        };
        let wait = expire(&mut all, now);
        if all.len() >= (self.max.saturating_mul(GLOBAL_FACTOR)) as usize {
            return Some(wait);
        }
        drop(all);
        let Ok(mut map) = self.map.lock() else {
            return Some(60);
        };
        let q = map.get_mut(&ip)?;
        let wait = expire(q, now);
        (q.len() >= self.max as usize).then_some(wait)
    }

    /// Counts a wrong token from `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let now = Instant::now();
        if let Ok(mut all) = self.all.lock() {
            expire(&mut all, now);
            if all.len() < (self.max.saturating_mul(GLOBAL_FACTOR)) as usize {
                all.push_back(now);
            }
        }
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if map.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let q = map.entry(ip).or_default();
        expire(q, now);
        if q.len() < self.max as usize {
            q.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let t = Some("0123456789abcdef");
        assert!(authorized(Some("Bearer 0123456789abcdef"), t));
        assert!(authorized(Some("bearer  0123456789abcdef "), t));
        assert!(!authorized(Some("Bearer 0123456789abcdeX"), t));
        assert!(!authorized(Some("Basic 0123456789abcdef"), t));
        assert!(!authorized(Some("0123456789abcdef"), t));
        assert!(!authorized(None, t));
        assert!(!authorized(Some("Bearer x"), None));
    }

    #[test]
    fn wrong_tokens_are_limited_per_address_and_in_total() {
        let l = Limiter::new(2);
        let ip = |n: u8| IpAddr::from([127, 0, 0, n]);
        assert!(l.blocked(ip(1)).is_none());
        l.fail(ip(1));
        assert!(l.blocked(ip(1)).is_none());
        l.fail(ip(1));
        assert!(l.blocked(ip(1)).is_some());
        assert!(l.blocked(ip(2)).is_none());
        for n in 2..10 {
            l.fail(ip(n));
        }
        assert!(l.blocked(ip(50)).is_some(), "10 failures in total");
    }
}
