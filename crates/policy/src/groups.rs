//! Groups: compiled match criteria (client ranges, users, URL regexes) and selection order.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::filter::{CompiledFilter, FilterDecision, ObjectInfo};
use crate::regexes::{compile_regexes, url_matches};
use crate::PolicyError;
use bulwark_config::policy::{Action, EngineOptions, GroupConfig};

/// A compiled group: what [`crate::Policy::select`] returns.
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) config: GroupConfig,
    pub(crate) is_default: bool,
    clients: Vec<IpNet>,
    users: Vec<String>,
    urls: Vec<Regex>,
    pub(crate) filter: CompiledFilter,
}

impl Group {
    /// Compiles `config`; `key` is its dotted path (`policy.group.1`) for error messages.
    pub(crate) fn compile(
        config: &GroupConfig,
        key: &str,
        is_default: bool,
        errors: &mut Vec<PolicyError>,
    ) -> Group {
        let mut clients = Vec::new();
        for c in &config.clients {
            match parse_client_range(c) {
                Ok(n) => clients.push(n),
                Err(e) => errors.push(PolicyError::new(format!("{key}.clients"), e.to_string())),
            }
        }
        let urls = compile_regexes(&config.urls, &format!("{key}.urls"), false, errors);
        for u in &config.users {
            if u.trim().is_empty() {
                errors.push(PolicyError::new(
                    format!("{key}.users"),
                    "empty user name".into(),
                ));
            }
        }
        for k in crate::actions::misplaced_cures(&config.actions) {
            errors.push(PolicyError::new(
                format!("{key}.actions.{k}"),
                "`cure` applies only to infected, suspicious and warning".into(),
            ));
        }
        let filter = CompiledFilter::compile(&config.filter, &format!("{key}.filter"), errors);
        Group {
            config: config.clone(),
            is_default,
            clients,
            users: config.users.iter().map(|u| u.trim().to_string()).collect(),
            urls,
            filter,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its priority (higher is tried first).
    pub fn priority(&self) -> i32 {
        self.config.priority
    }

    /// Whether this is the default group (`[policy.default]`).
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// Scan options to map to the engine's options.
    pub fn engine(&self) -> &EngineOptions {
        &self.config.engine
    }

    /// The group's configuration as written.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The action for an object of `status` (a clean object is always `Skip`).
    pub fn action(&self, status: bulwark_engine::Status) -> Action {
        crate::actions::action_for(&self.config.actions, status)
    }

    /// Whether a request from `client`/`user` for `url` belongs to this group: every criterion
    /// that is set must match (an empty list matches anything; a set list needs the value).
    pub fn matches(&self, client: Option<IpAddr>, user: Option<&str>, url: &str) -> bool {
        let client_ok = self.clients.is_empty()
            || client
                .map(|c| c.to_canonical())
                .is_some_and(|c| self.clients.iter().any(|n| n.contains(&c)));
        let user_ok = self.users.is_empty()
            || user.is_some_and(|u| self.users.iter().any(|g| g.eq_ignore_ascii_case(u.trim())));
        client_ok && user_ok && (self.urls.is_empty() || url_matches(&self.urls, url))
    }

    /// Decides whether an object is scanned.
    ///
    /// Two-step use: call it with the HTTP heads and `first_bytes: None`. When it answers
    /// [`FilterDecision::NeedBytes`] (only when a Content-Type exclusion applies and file types
    /// are sniffed), call it again once that many body bytes (the preview) arrived, or the body
    /// ended: the content may then override the exclusion (a `video/mp4` that starts with `MZ`
    /// is scanned). Every other answer is final.
    ///
    /// Order: method, excluded URL, HTTP 206, Content-Type (with sniffing), size.
    /// When `Content-Length` is absent the server counts the bytes itself and applies
    /// [`Group::too_large`] once [`Group::max_req_length`] is passed.
    pub fn filter(&self, o: &ObjectInfo<'_>) -> FilterDecision {
        self.filter.decide(&self.config, o)
    }

    /// The size limit in bytes (`filter.max_req_length`), `None` without one.
    pub fn max_req_length(&self) -> Option<u64> {
        crate::filter::max_req_length(&self.config)
    }

    /// The decision for an object found to be over [`Group::max_req_length`].
    pub fn too_large(&self) -> FilterDecision {
        crate::filter::too_large(&self.config)
    }
}

/// Why a client range does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientRangeError {
    /// Neither an address, nor a network, nor an address/mask.
    #[error("`{0}` is not an address, network (10.0.0.0/8) or address/mask")]
    Malformed(String),
    /// An address/mask whose mask has a hole (`255.0.255.0`).
    #[error("`{range}`: the mask {mask} is not contiguous")]
    MaskNotContiguous {
        /// The range as written (trimmed).
        range: String,
        /// Its mask.
        mask: IpAddr,
    },
}

/// Parses a client range: `a.b.c.d/len`, `a.b.c.d/m.m.m.m` (contiguous mask), a single IPv4 or
/// IPv6 address, or an IPv6 network. Host bits are cleared.
pub fn parse_client_range(s: &str) -> Result<IpNet, ClientRangeError> {
    let s = s.trim();
    let bad = || ClientRangeError::Malformed(s.to_string());
    let Some((addr, suffix)) = s.split_once('/') else {
        return s.parse::<IpAddr>().map(IpNet::from).map_err(|_| bad());
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix = if let Ok(len) = suffix.parse::<u8>() {
        len
    } else {
        let mask: IpAddr = suffix.parse().map_err(|_| bad())?;
        if mask.is_ipv4() != addr.is_ipv4() {
            return Err(bad());
        }
        ipnet::ip_mask_to_prefix(mask).map_err(|_| ClientRangeError::MaskNotContiguous {
            range: s.to_string(),
            mask,
        })?
    };
    IpNet::new(addr, prefix)
        .map(|n| n.trunc())
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> String {
        parse_client_range(s)
            .map(|n| n.to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn client_ranges() {
        assert_eq!(net("192.168.1.0/24"), "192.168.1.0/24");
        assert_eq!(net("192.168.1.77/255.255.255.0"), "192.168.1.0/24");
        assert_eq!(net(" 10.0.0.7 "), "10.0.0.7/32");
        assert_eq!(net("2001:db8::/32"), "2001:db8::/32");
        assert_eq!(net("::1"), "::1/128");
        assert!(net("192.168.1.0/33").contains("not an address"));
        assert!(net("192.168.1.0/255.0.255.0").contains("not contiguous"));
        assert_eq!(
            parse_client_range("10.0.0.0/255.0.255.0"),
            Err(ClientRangeError::MaskNotContiguous {
                range: "10.0.0.0/255.0.255.0".into(),
                mask: "255.0.255.0".parse().expect("mask"),
            })
        );
        assert_eq!(
            parse_client_range(" x "),
            Err(ClientRangeError::Malformed("x".into()))
        );
        assert!(net("192.168.1.0/ffff::").contains("not"));
        assert!(net("^192\\.168\\..*").contains("not an address"));
        assert!(net("").contains("not an address"));
    }

    #[test]
    fn urls_match_with_and_without_scheme() {
        let mut e = Vec::new();
        let r = compile_regexes(&[r"^www\.example\.com\/.*".into()], "k", false, &mut e);
        assert!(e.is_empty(), "{e:?}");
        assert!(url_matches(&r, "http://www.example.com/a"));
        assert!(url_matches(&r, "www.example.com/a"));
        assert!(!url_matches(&r, "http://evil.com/www.example.com/"));
        compile_regexes(&["(".into()], "policy.group.0.urls", false, &mut e);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "policy.group.0.urls");
    }
}
