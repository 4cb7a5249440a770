//! `[access] allow`, compiled once per snapshot: the client networks allowed to connect.

use std::net::IpAddr;

use bulwark_config::Config;

/// An `[access] allow` entry that is not an address or network.
#[derive(Debug, thiserror::Error)]
#[error("access.allow: `{0}` is not an address or network")]
pub struct AccessError(pub String);

/// The compiled `[access] allow` list; empty allows every address.
#[derive(Debug, Clone, Default)]
pub struct AccessList(Vec<ipnet::IpNet>);

impl AccessList {
    /// Compiles the configuration's list.
    pub fn compile(cfg: &Config) -> Result<Self, AccessError> {
        cfg.access
            .allow
            .iter()
            .map(|s| bulwark_config::parse_net(s).ok_or_else(|| AccessError(s.clone())))
            .collect::<Result<_, _>>()
            .map(AccessList)
    }

    /// Whether a client at `ip` may connect (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.is_empty() || self.0.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_list_matches_networks_and_mapped_addresses() {
        let mut cfg = Config::default();
        let open = AccessList::compile(&cfg).expect("empty list");
        assert!(open.allows("203.0.113.9".parse().expect("ip")));
        cfg.access.allow = vec!["127.0.0.2".into(), "10.0.0.0/8".into(), "::1".into()];
        let a = AccessList::compile(&cfg).expect("list");
        assert!(a.allows("127.0.0.2".parse().expect("ip")));
        assert!(!a.allows("127.0.0.3".parse().expect("ip")));
        assert!(a.allows("10.200.1.1".parse().expect("ip")));
        assert!(a.allows("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(a.allows("::1".parse().expect("ip")));
        cfg.access.allow = vec!["not-a-net".into()];
        assert!(AccessList::compile(&cfg).is_err());
    }
}
