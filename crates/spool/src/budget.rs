//! The process's budget for object bytes held in memory (bodies waiting for their verdict,
//! members being unpacked, objects kept for the end of their scan): every [`crate::SpillBuffer`]
//! and the engine's in-memory copy of an object take a [`Reservation`] from a [`Budget`] before
//! they grow in memory; when the budget is spent they go to their temp file instead, so the
//! memory that many large objects in flight hold at once is bounded (SPEC F-OPS, issue 22: "a
//! memory budget for bodies in flight: beyond it, spool or wait, never grow").

use std::sync::atomic::{AtomicU64, Ordering};

/// A number of bytes shared by the buffers that reserve from it.
#[derive(Debug)]
pub struct Budget {
    limit: AtomicU64,
    used: AtomicU64,
}

/// The process's budget: unlimited until [`Budget::set_limit`] (the server sets it from its
/// configuration).
pub static GLOBAL: Budget = Budget::new(u64::MAX);

impl Budget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: u64) -> Budget {
        Budget {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
        }
    }

    /// Sets the limit (reservations already held are kept; new growth waits until the use is
    /// below the new limit).
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: u64) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= limit)
            })
            .is_ok()
    }

    fn give(&self, n: u64) {
        // Never below zero, whatever the order of releases.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

/// One buffer's share of a [`Budget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: &'static Budget,
    held: u64,
}

impl Default for Reservation {
    /// A reservation from the process's budget ([`GLOBAL`]).
    fn default() -> Self {
        Reservation::in_budget(&GLOBAL)
    }
}

impl Reservation {
    /// An empty reservation from `budget`.
    pub fn in_budget(budget: &'static Budget) -> Reservation {
        Reservation { budget, held: 0 }
    }

    /// Reserves `n` more bytes; false (nothing reserved) when the budget cannot give them.
    pub fn grow(&mut self, n: u64) -> bool {
        if n == 0 || self.budget.take(n) {
            self.held += n;
            true
        } else {
            false
        }
    }

    /// Reserves a new allocation of at least `need` bytes that replaces the one this
    /// reservation covers, and returns the capacity to allocate: doubling (a power of two, at
    /// least `min`, never past `limit` unless `need` is), or exactly `need` when the budget cannot
    /// give that. The reservation then holds that capacity. `None`, with nothing changed, when
    /// the budget cannot give even `need`.
    ///
    /// Budgets count allocations, not the bytes in them: a buffer that grows by doubling holds
    /// up to twice its bytes, and that is what it must reserve.
    pub fn for_allocation(&mut self, need: usize, min: usize, limit: usize) -> Option<usize> {
        let doubled = need
            .checked_next_power_of_two()
            .unwrap_or(need)
            .max(min)
            .min(limit.max(need));
        let held = usize::try_from(self.held).unwrap_or(usize::MAX);
        let cap = [doubled, need]
            .into_iter()
            .find(|&cap| cap <= held || self.grow((cap - held) as u64))?;
        if cap < held {
            self.shrink((held - cap) as u64);
        }
        Some(cap)
    }

    /// Gives back `n` bytes (at most what is held).
    pub fn shrink(&mut self, n: u64) {
        let n = n.min(self.held);
        self.budget.give(n);
        self.held -= n;
    }

    /// Gives back everything held.
    pub fn release(&mut self) {
        self.shrink(self.held);
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The budget it draws from.
    pub fn budget(&self) -> &'static Budget {
        self.budget
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_double_within_the_limit_or_take_exactly_what_is_needed() {
        static B: Budget = Budget::new(10_000);
        let mut r = Reservation::in_budget(&B);
        assert_eq!(r.for_allocation(3000, 0, 1 << 20), Some(4096));
        assert_eq!(
            r.for_allocation(100, 1000, 1 << 20),
            Some(1000),
            "smaller: gives back"
        );
        assert_eq!((r.held(), B.used()), (1000, 1000));
        assert_eq!(
            r.for_allocation(5000, 0, 6000),
            Some(6000),
            "never past the limit"
        );
        assert_eq!(
            r.for_allocation(9000, 0, 1 << 20),
            Some(9000),
            "16 KiB does not fit"
        );
        assert_eq!(r.for_allocation(20_000, 0, 1 << 20), None);
        assert_eq!(B.used(), 9000, "a refusal changes nothing");
    }

    #[test]
    fn reservations_share_the_limit_and_give_back_on_drop() {
        static B: Budget = Budget::new(100);
        let mut a = Reservation::in_budget(&B);
        let mut b = Reservation::in_budget(&B);
        assert!(a.grow(60));
        assert!(!b.grow(50), "only 40 left");
        assert!(b.grow(40));
        assert_eq!(B.used(), 100);
        a.shrink(10);
        assert!(b.grow(10));
        drop(a);
        assert_eq!(B.used(), 50);
        b.release();
        assert_eq!((B.used(), b.held()), (0, 0));
        B.set_limit(5);
        assert!(!b.grow(6) && b.grow(5));
    }
}
