//! Idle keep-alive connections, oldest first, so that when the connection limit is reached a
//! new client takes the place of a connection that does nothing instead of being refused: 2,000
//! idle connections cannot lock a proxy out (issue 22).

use std::collections::BTreeMap;
use std::net::IpAddr;
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
    /// By the order they became idle: the oldest first, with the client's address.
    waiting: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
}

/// A connection's place in the idle set while it waits; leaves it when dropped.
#[derive(Debug)]
pub struct IdleGuard<'a> {
    set: &'a IdleSet,
    id: u64,
    notify: Arc<Notify>,
}

impl IdleSet {
    /// Registers a connection from `client` that starts waiting for its next request.
    pub fn enter(&self, client: IpAddr) -> IdleGuard<'_> {
        let notify = Arc::new(Notify::new());
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = g.next;
        g.next += 1;
        g.waiting.insert(id, (client, notify.clone()));
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
            Some((_, (_, n))) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks the connection of `client` idle the longest to close (when the client is at its
    /// own connection limit); false when none of its connections is idle.
    pub fn evict_oldest_of(&self, client: IpAddr) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(id) = g
            .waiting
            .iter()
            .find(|(_, (ip, _))| *ip == client)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some((_, n)) = g.waiting.remove(&id) {
            n.notify_one();
        }
        true
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
        let ip: IpAddr = [127, 0, 0, 1].into();
        let a = set.enter(ip);
        let b = set.enter(ip);
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

    #[tokio::test]
    async fn a_clients_own_oldest_idle_connection_is_evicted() {
        let set = IdleSet::default();
        let (x, y): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let a = set.enter(x);
        let b = set.enter(y);
        let c = set.enter(y);
        assert!(set.evict_oldest_of(y));
        tokio::time::timeout(std::time::Duration::from_millis(100), b.evicted())
            .await
            .expect("b, y's oldest, evicted");
        for other in [&a, &c] {
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(50), other.evicted())
                    .await
                    .is_err()
            );
        }
        assert!(!set.evict_oldest_of([10, 0, 0, 3].into()));
        drop((a, b, c));
    }
}
