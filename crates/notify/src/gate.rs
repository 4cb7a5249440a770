//! Deduplication and the global rate limit: pure bookkeeping, the clock passed in.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Keys remembered at most; past this, expired keys are forgotten, and if that is not enough
/// new keys are not deduplicated (sent, not tracked) so memory stays bounded.
const MAX_KEYS: usize = 4096;

/// What the gate decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A repeat inside its dedup window: held back and counted.
    Suppressed,
    /// Over the rate limit: dropped.
    RateLimited,
    /// May be sent; [`Gate::commit`] it once it is really queued.
    Pass,
}

/// One remembered key: when its window started, and repeats since.
#[derive(Debug)]
struct Seen {
    since: Instant,
    repeats: u64,
}

/// Dedup windows per key and a sliding 60-second rate window.
#[derive(Debug)]
pub struct Gate {
    window: Duration,
    per_minute: usize,
    seen: HashMap<String, Seen>,
    sent: VecDeque<Instant>,
}

impl Gate {
    /// A gate with a dedup `window` (zero: off) and `per_minute` sends (0: no limit).
    pub fn new(window: Duration, per_minute: u32) -> Self {
        Self {
            window,
            per_minute: per_minute as usize,
            seen: HashMap::new(),
            sent: VecDeque::new(),
        }
    }

    /// Decides for an event with `key` at `now`. A suppressed repeat is counted here; a
    /// rate-limited event leaves the dedup state alone (it was not sent).
    pub fn check(&mut self, key: &str, now: Instant) -> Verdict {
        if !self.window.is_zero() {
            if let Some(seen) = self.seen.get_mut(key) {
                if now.saturating_duration_since(seen.since) < self.window {
                    seen.repeats += 1;
                    return Verdict::Suppressed;
                }
            }
        }
        if self.per_minute > 0 {
            let minute = Duration::from_secs(60);
            while self
                .sent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= minute)
            {
                self.sent.pop_front();
            }
            if self.sent.len() >= self.per_minute {
                return Verdict::RateLimited;
            }
        }
        Verdict::Pass
    }

    /// Records that the event with `key` passed at `now` and was queued; returns the repeats
    /// suppressed since it was last sent (to report in this one).
    pub fn commit(&mut self, key: &str, now: Instant) -> u64 {
        if self.per_minute > 0 {
            self.sent.push_back(now);
        }
        if self.window.is_zero() {
            return 0;
        }
        if let Some(seen) = self.seen.get_mut(key) {
            let repeats = seen.repeats;
            *seen = Seen {
                since: now,
                repeats: 0,
            };
            return repeats;
        }
        if self.seen.len() >= MAX_KEYS {
            let window = self.window;
            self.seen
                .retain(|_, s| now.saturating_duration_since(s.since) < window);
        }
        if self.seen.len() < MAX_KEYS {
            self.seen.insert(
                key.to_string(),
                Seen {
                    since: now,
                    repeats: 0,
                },
            );
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(g: &mut Gate, key: &str, now: Instant) -> Option<u64> {
        match g.check(key, now) {
            Verdict::Pass => Some(g.commit(key, now)),
            _ => None,
        }
    }

    #[test]
    fn dedup_window_and_repeat_count() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::from_secs(10), 0);
        assert_eq!(pass(&mut g, "a", t), Some(0));
        assert_eq!(
            g.check("a", t + Duration::from_secs(1)),
            Verdict::Suppressed
        );
        assert_eq!(
            g.check("a", t + Duration::from_secs(9)),
            Verdict::Suppressed
        );
        assert_eq!(pass(&mut g, "b", t + Duration::from_secs(1)), Some(0));
        assert_eq!(pass(&mut g, "a", t + Duration::from_secs(10)), Some(2));
        assert_eq!(
            g.check("a", t + Duration::from_secs(11)),
            Verdict::Suppressed
        );
    }

    #[test]
    fn zero_window_is_off() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::ZERO, 0);
        for _ in 0..5 {
            assert_eq!(pass(&mut g, "a", t), Some(0));
        }
    }

    #[test]
    fn sliding_minute_rate_limit() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::ZERO, 2);
        assert!(pass(&mut g, "a", t).is_some());
        assert!(pass(&mut g, "b", t + Duration::from_secs(30)).is_some());
        assert_eq!(
            g.check("c", t + Duration::from_secs(59)),
            Verdict::RateLimited
        );
        assert!(pass(&mut g, "c", t + Duration::from_secs(60)).is_some());
        assert_eq!(
            g.check("d", t + Duration::from_secs(61)),
            Verdict::RateLimited
        );
    }

    #[test]
    fn rate_limited_event_is_not_remembered_as_sent() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::from_secs(300), 1);
        assert!(pass(&mut g, "a", t).is_some());
        assert_eq!(g.check("b", t), Verdict::RateLimited);
        // "b" was never sent, so after the minute it goes out at once.
        assert_eq!(pass(&mut g, "b", t + Duration::from_secs(60)), Some(0));
    }

    #[test]
    fn key_memory_is_bounded() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::from_secs(300), 0);
        for i in 0..MAX_KEYS + 10 {
            assert!(pass(&mut g, &i.to_string(), t).is_some());
        }
        assert_eq!(g.seen.len(), MAX_KEYS);
        // Once the window has passed the old keys are pruned and new ones tracked again.
        let later = t + Duration::from_secs(301);
        assert!(pass(&mut g, "new", later).is_some());
        assert_eq!(g.seen.len(), 1);
    }
}
