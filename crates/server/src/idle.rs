//! Idle keep-alive connections, oldest first, so that when the connection limit is reached a
//! new client takes the place of a connection that does nothing instead of being refused: 2,000
//! idle connections cannot lock a proxy out (issue 22).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The connections waiting for their next request.
#[derive(Debug, Default)]
pub struct IdleSet {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// By the order they became idle: the oldest first.
    waiting: BTreeMap<u64, Arc<Notify>>,
}

/// A connection's place in the idle set while it waits; leaves it when dropped.
#[derive(Debug)]
pub struct IdleGuard<'a> {
    set: &'a IdleSet,
    id: u64,
    notify: Arc<Notify>,
}

impl IdleSet {
    /// Registers a connection that starts waiting for its next request.
    pub fn enter(&self) -> IdleGuard<'_> {
        let notify = Arc::new(Notify::new());
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = g.next;
        g.next += 1;
        g.waiting.insert(id, notify.clone());
        IdleGuard {
            set: self,
            id,
            notify,
        }
    }

    /// Asks the connection idle the longest to close; false when none is idle.
    pub fn evict_oldest(&self) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match g.waiting.pop_first() {
            Some((_, n)) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// Connections idle now.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.waiting.len()).unwrap_or(0)
    }

    /// True when no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IdleGuard<'_> {
    /// Resolves when the connection is asked to close to make room.
    pub async fn evicted(&self) {
        self.notify.notified().await;
    }
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.set.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_evicted_first() {
        let set = IdleSet::default();
        let a = set.enter();
        let b = set.enter();
        assert_eq!(set.len(), 2);
        assert!(set.evict_oldest());
        // `a` was told (the permit is stored even before anyone waits); `b` was not.
        tokio::time::timeout(std::time::Duration::from_millis(100), a.evicted())
            .await
            .expect("a evicted");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), b.evicted())
                .await
                .is_err()
        );
        drop(b);
        assert!(set.is_empty());
        assert!(!set.evict_oldest());
        drop(a);
    }
}
