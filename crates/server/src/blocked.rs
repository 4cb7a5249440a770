//! The blocked-URL cache (SPEC F-ICAP-3): a URL found infected is blocked again at once, without
//! a new scan, for a while, so that a retried download gets the block page immediately.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_engine::Verdict;

/// URL → (when it expires, the verdict that blocked it).
#[derive(Debug, Default)]
pub struct BlockedUrls {
    map: Mutex<HashMap<String, (Instant, Verdict)>>,
}

impl BlockedUrls {
    /// Remembers `url` as blocked by `verdict` for `ttl`; keeps at most `max` entries (expired
    /// ones go first, then the ones closest to expiry).
    pub fn insert(&self, url: &str, verdict: &Verdict, ttl: Duration, max: usize) {
        if ttl.is_zero() || max == 0 || url.is_empty() {
            return;
        }
        let Ok(mut map) = self.map.lock() else { return };
        let now = Instant::now();
        if map.len() >= max {
            map.retain(|_, (exp, _)| *exp > now);
        }
        while map.len() >= max {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (exp, _))| *exp)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(url.to_string(), (now + ttl, verdict.clone()));
    }

    /// The verdict that blocked `url`, if it is still remembered.
    pub fn get(&self, url: &str) -> Option<Verdict> {
        let mut map = self.map.lock().ok()?;
        match map.get(url) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(url);
                None
            }
            None => None,
        }
    }

    /// Forgets everything (a new database may judge differently).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::Threat;

    #[test]
    fn remembers_expires_and_stays_bounded() {
        let b = BlockedUrls::default();
        let v = Verdict::infected(vec![Threat::new("X", "")]);
        b.insert("http://a/", &v, Duration::from_secs(60), 2);
        assert_eq!(b.get("http://a/"), Some(v.clone()));
        b.insert("http://gone/", &v, Duration::from_nanos(1), 2);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.get("http://gone/"), None);
        b.insert("http://b/", &v, Duration::from_secs(60), 2);
        b.insert("http://c/", &v, Duration::from_secs(120), 2);
        assert_eq!(b.map.lock().map(|m| m.len()).unwrap_or(0), 2);
        assert!(b.get("http://c/").is_some());
        b.clear();
        assert!(b.get("http://c/").is_none());
    }
}
