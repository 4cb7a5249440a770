//! Passwords (Argon2 PHC strings), bearer tokens, sessions with CSRF tokens, and the log-in
//! rate limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};

use crate::ConsoleConfig;

/// Most sessions kept at once; the oldest goes when a new one would exceed it.
const MAX_SESSIONS: usize = 256;

/// Hashes a password for `console.password_hash` (Argon2id, a random salt, the crate's
/// recommended cost), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// True when `password` matches the PHC string `hash` (false too when `hash` is malformed).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token in force: `token`, else the first line of `token_file`.
pub(crate) fn configured_token(cfg: &ConsoleConfig) -> Option<String> {
    if let Some(t) = &cfg.token {
        let t = t.trim();
        return (!t.is_empty()).then(|| t.to_string());
    }
    let path = cfg.token_file.as_ref()?;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let t = text.lines().next().unwrap_or("").trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), "console.token_file unreadable: {e}");
            None
        }
    }
}

/// A random identifier: 32 bytes, hex.
pub(crate) fn random_id() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// One logged-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token every state-changing request must carry in `X-CSRF-Token`.
    pub csrf: String,
    created: Instant,
    expires: Instant,
}

/// Sessions by identifier (the cookie value).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `ttl`; returns its identifier and CSRF token.
    pub fn open(&self, ttl: Duration) -> Option<(String, String)> {
        let id = random_id()?;
        let csrf = random_id()?;
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                created: now,
                expires: now + ttl,
            },
        );
        Some((id, csrf))
    }

    /// The live session of `id`, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().ok()?;
        let s = map.get(id)?.clone();
        if s.expires <= Instant::now() {
            map.remove(id);
            return None;
        }
        Some(s)
    }

    /// Ends the session of `id`.
    pub fn close(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }
}

/// Log-in attempts per client address over the last minute.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    map: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Counts an attempt from `ip`; `Err(seconds to wait)` when `max` per minute are used up.
    pub fn attempt(&self, ip: IpAddr, max: u32) -> Result<(), u64> {
        let window = Duration::from_secs(60);
        let now = Instant::now();
        let Ok(mut map) = self.map.lock() else {
            return Err(60);
        };
        if map.len() > 10_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = map.entry(ip).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= max as usize {
            let wait = q
                .front()
                .map(|t| window.saturating_sub(now.duration_since(*t)).as_secs() + 1)
                .unwrap_or(60);
            return Err(wait);
        }
        q.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("s3cret").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn limiter_counts_per_address() {
        let l = LoginLimiter::default();
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        assert!(l.attempt(a, 2).is_ok());
        assert!(l.attempt(a, 2).is_ok());
        assert!(l.attempt(a, 2).is_err());
        assert!(l.attempt(b, 2).is_ok());
    }

    #[test]
    fn sessions_open_get_close() {
        let s = Sessions::default();
        let (id, csrf) = s.open(Duration::from_secs(60)).expect("open");
        assert_eq!(s.get(&id).expect("live").csrf, csrf);
        s.close(&id);
        assert!(s.get(&id).is_none());
        let (id, _) = s.open(Duration::from_secs(0)).expect("open");
        assert!(s.get(&id).is_none());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
