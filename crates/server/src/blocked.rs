//! The blocked-object cache (SPEC F-ICAP-3): a download found infected is blocked again at once,
//! without a new scan, for a while, so that a retry gets the block page (with the threat name)
//! immediately — including a retry of a download that was cut off mid-stream.
//!
//! An entry names one *object*, not a URL: the URL plus the validators of the response that
//! carried it (`ETag`, `Last-Modified`, `Content-Length`) and a fingerprint of the scanning
//! options that produced the verdict. A different object served later at the same URL has
//! other validators and is scanned afresh; a group that scans with other options does not reuse
//! the verdict; the requesting group's own actions decide what a hit does. Only downloads are
//! remembered: an upload's URL names an endpoint, not an object. A response without any
//! validator is known by its URL alone (documented in the README). Least recently used entries
//! go first; every operation is O(1); the cache is emptied when the database changes.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_engine::Verdict;
use bulwark_icap::Headers;
use lru::LruCache;

/// What identifies a downloaded object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    content_length: Option<u64>,
    options: u64,
}

impl ObjectKey {
    /// The key of the object at `url` whose response head is `headers`, scanned with options
    /// whose fingerprint is `options`. `None` for an empty URL.
    pub fn new(url: &str, headers: &Headers, options: u64) -> Option<Self> {
        if url.is_empty() {
            return None;
        }
        let get = |name: &str| headers.get(name).map(|v| v.trim().to_string());
        Some(Self {
            url: url.to_string(),
            etag: get("ETag"),
            last_modified: get("Last-Modified"),
            content_length: headers
                .get("Content-Length")
                .and_then(|v| v.trim().parse().ok()),
            options,
        })
    }

    /// Its identity in the shared blocked-object cache: the same fields, and that it is a
    /// download (uploads are never remembered, here or there).
    pub fn shared_id(&self) -> bulwark_cluster::ObjectId {
        let length = self.content_length.map(u64::to_le_bytes);
        let options = self.options.to_le_bytes();
        bulwark_cluster::ObjectId::of(&[
            Some(b"download"),
            Some(self.url.as_bytes()),
            self.etag.as_deref().map(str::as_bytes),
            self.last_modified.as_deref().map(str::as_bytes),
            length.as_ref().map(|l| &l[..]),
            Some(&options),
        ])
    }
}

#[derive(Debug)]
struct Entry {
    expires: Instant,
    verdict: Verdict,
}

/// Objects recently found infected.
#[derive(Debug)]
pub struct BlockedObjects {
    map: Mutex<LruCache<ObjectKey, Entry>>,
}

impl BlockedObjects {
    /// A cache of at most `max` objects (at least one).
    pub fn new(max: usize) -> Self {
        let cap = NonZeroUsize::new(max.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            map: Mutex::new(LruCache::new(cap)),
        }
    }

    /// Remembers `key` as blocked by `verdict` for `ttl` (nothing when `ttl` is zero).
    pub fn insert(&self, key: ObjectKey, verdict: &Verdict, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            map.put(
                key,
                Entry {
                    expires: Instant::now() + ttl,
                    verdict: verdict.clone(),
                },
            );
        }
    }

    /// The verdict that blocked this object, if it is still remembered.
    pub fn get(&self, key: &ObjectKey) -> Option<Verdict> {
        let mut map = self.map.lock().ok()?;
        match map.get(key) {
            Some(e) if e.expires > Instant::now() => Some(e.verdict.clone()),
            Some(_) => {
                map.pop(key);
                None
            }
            None => None,
        }
    }

    /// Makes room for at most `max` objects (a reload may change it), dropping the least
    /// recently used.
    pub fn resize(&self, max: usize) {
        if let (Ok(mut map), Some(cap)) = (self.map.lock(), NonZeroUsize::new(max.max(1))) {
            if map.cap() != cap {
                map.resize(cap);
            }
        }
    }

    /// Objects remembered (expired ones included until they are met).
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
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

    fn head(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.append(*k, *v);
        }
        h
    }

    fn key(url: &str, pairs: &[(&str, &str)], options: u64) -> ObjectKey {
        ObjectKey::new(url, &head(pairs), options).expect("key")
    }

    #[test]
    fn an_object_is_known_by_url_validators_and_options() {
        let b = BlockedObjects::new(10);
        let v = Verdict::infected(vec![Threat::new("X", "")]);
        let infected = [("ETag", "\"a\""), ("Content-Length", "100")];
        b.insert(key("http://h/f", &infected, 1), &v, Duration::from_secs(60));
        // The same object again, header names in any case.
        assert_eq!(
            b.get(&key(
                "http://h/f",
                &[("etag", "\"a\""), ("content-length", "100")],
                1
            )),
            Some(v.clone())
        );
        // Another object at the same URL, other options, another URL: not blocked.
        assert_eq!(
            b.get(&key(
                "http://h/f",
                &[("ETag", "\"b\""), ("Content-Length", "100")],
                1
            )),
            None
        );
        assert_eq!(
            b.get(&key(
                "http://h/f",
                &[("ETag", "\"a\""), ("Content-Length", "99")],
                1
            )),
            None
        );
        assert_eq!(b.get(&key("http://h/f", &infected, 2)), None);
        assert_eq!(b.get(&key("http://h/g", &infected, 1)), None);
        assert!(ObjectKey::new("", &Headers::new(), 1).is_none());
    }

    #[test]
    fn entries_expire_and_the_least_recently_used_go_first() {
        let b = BlockedObjects::new(2);
        let v = Verdict::infected(vec![Threat::new("X", "")]);
        b.insert(key("http://gone/", &[], 0), &v, Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.get(&key("http://gone/", &[], 0)), None);
        b.insert(key("http://a/", &[], 0), &v, Duration::from_secs(60));
        b.insert(key("http://b/", &[], 0), &v, Duration::from_secs(60));
        assert!(b.get(&key("http://a/", &[], 0)).is_some());
        b.insert(key("http://c/", &[], 0), &v, Duration::from_secs(60));
        assert_eq!(b.len(), 2);
        assert!(
            b.get(&key("http://b/", &[], 0)).is_none(),
            "b was least recently used"
        );
        assert!(b.get(&key("http://a/", &[], 0)).is_some());
        b.insert(key("http://z/", &[], 0), &v, Duration::ZERO);
        assert!(b.get(&key("http://z/", &[], 0)).is_none());
        b.resize(1);
        assert_eq!(b.len(), 1);
        b.clear();
        assert_eq!(b.len(), 0);
    }
}
