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

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The system gave no random bytes for the salt.
    #[error("no randomness: {0}")]
    Random(getrandom::Error),
    /// Argon2 refused the salt or the password.
    #[error("{0}")]
    Argon2(argon2::password_hash::Error),
}

/// Hashes a password for `console.password_hash` (Argon2id, a random salt, the crate's
/// recommended cost), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashError::Argon2)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Argon2)
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

pub(crate) use bulwark_secret::same_secret;

/// The bearer token in force: `token`, else the first line of `token_file`.
pub(crate) fn configured_token(cfg: &ConsoleConfig) -> Option<String> {
    bulwark_secret::configured_token(
        cfg.token.as_deref(),
        cfg.token_file.as_deref(),
        "console.token_file",
    )
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

/// A job for the verification threads: a password, a hash, where to send the result.
type VerifyJob = (String, String, tokio::sync::oneshot::Sender<bool>);

/// A fixed set of threads that verify passwords, so that Argon2's memory (19 MiB per
/// verification at the default cost) is allocated by those threads only: the allocator keeps
/// per-thread arenas, and verifications spread over many blocking threads kept up to 19 MiB in
/// each of them.
#[derive(Debug)]
pub(crate) struct VerifyPool {
    tx: Mutex<std::sync::mpsc::Sender<VerifyJob>>,
}

impl VerifyPool {
    /// Starts `threads` verification threads.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<VerifyJob>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("console-verify-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok((password, hash, reply)) = job else {
                        return;
                    };
                    let _ = reply.send(verify_password(&password, &hash));
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start a password verification thread: {e}");
            }
        }
        Self { tx: Mutex::new(tx) }
    }

    /// Verifies on one of the pool's threads; false when the pool is gone.
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .lock()
            .map(|tx| tx.send((password, hash, reply)).is_ok())
            .unwrap_or(false);
        sent && rx.await.unwrap_or(false)
    }
}

/// All log-in attempts (and wrong bearer tokens) over the last minute may be this many times
/// the per-address allowance: guesses spread over many addresses meet a limit too (there is
/// one account, so this is also the per-account limit).
pub(crate) const GLOBAL_FACTOR: u32 = 5;

/// Log-in attempts per client address, and in total, over the last minute.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    map: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    all: Mutex<VecDeque<Instant>>,
}

/// Seconds until the oldest attempt of `q` leaves the window.
fn wait_of(q: &VecDeque<Instant>, now: Instant, window: Duration) -> u64 {
    q.front()
        .map(|t| window.saturating_sub(now.duration_since(*t)).as_secs() + 1)
        .unwrap_or(60)
}

impl LoginLimiter {
    /// Counts an attempt from `ip`; `Err(seconds to wait)` when `max` per minute are used up
    /// for that address, or `max` × [`GLOBAL_FACTOR`] for everyone together.
    pub fn attempt(&self, ip: IpAddr, max: u32) -> Result<(), u64> {
        let window = Duration::from_secs(60);
        let now = Instant::now();
        {
            let Ok(mut all) = self.all.lock() else {
                return Err(60);
            };
            while all
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                all.pop_front();
            }
            if all.len() >= max.saturating_mul(GLOBAL_FACTOR).max(1) as usize {
                return Err(wait_of(&all, now, window));
            }
        }
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
            return Err(wait_of(q, now, window));
        }
        q.push_back(now);
        if let Ok(mut all) = self.all.lock() {
            all.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_limited_per_address_and_in_total() {
        let l = LoginLimiter::default();
        let ip = |n: u8| IpAddr::from([127, 0, 0, n]);
        for _ in 0..3 {
            assert!(l.attempt(ip(1), 3).is_ok());
        }
        assert!(l.attempt(ip(1), 3).is_err(), "per address");
        // 3 per address, 15 in total: addresses 2..=5 get 3 each until the total is reached.
        let mut ok = 3;
        for n in 2..=10 {
            for _ in 0..3 {
                if l.attempt(ip(n), 3).is_ok() {
                    ok += 1;
                }
            }
        }
        assert_eq!(ok, 15, "the total over every address is 5 x 3");
        assert!(
            l.attempt(ip(99), 3).is_err(),
            "a new address is refused too"
        );
    }

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
