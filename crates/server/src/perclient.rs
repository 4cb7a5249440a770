//! Live ICAP connections per client address, so that one client cannot take every connection
//! (`server.max_connections_per_client`, issue 22): its new connections are refused while
//! other clients are still served.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts of live connections by client address.
#[derive(Debug, Default)]
pub struct PerClient {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its client's count; released when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    set: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    /// Takes a slot for a new connection from `ip`, unless the client already holds `limit`
    /// connections (0: no limit).
    pub fn try_take(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = g.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            set: self.clone(),
            ip,
        })
    }

    /// Live connections from `ip`.
    #[cfg(test)]
    pub fn count(&self, ip: IpAddr) -> usize {
        let g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut g = self.set.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = g.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                g.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_at_its_limit_is_refused_others_are_not() {
        let set = Arc::new(PerClient::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let s1 = set.try_take(a, 2).expect("first");
        let _s2 = set.try_take(a, 2).expect("second");
        assert!(set.try_take(a, 2).is_none(), "third from the same client");
        assert!(set.try_take(b, 2).is_some(), "another client");
        drop(s1);
        assert_eq!(set.count(a), 1);
        assert!(set.try_take(a, 2).is_some(), "room again once one closed");
        // 0: no per-client limit, still counted.
        let many: Vec<_> = (0..100).filter_map(|_| set.try_take(b, 0)).collect();
        assert_eq!(many.len(), 100);
        drop(many);
        assert_eq!(set.count(b), 0);
    }
}
