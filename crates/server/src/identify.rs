//! Phase 2 of a transaction: who asked, from the proxy's identity headers.

use bulwark_icap::Request;

use crate::snapshot::Snapshot;

/// Who asked (phase 2), from the proxy's identity headers (SPEC F-ICAP-4). Never falls back
/// to the proxy's own address.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub(crate) client: Option<String>,
    pub(crate) user: Option<String>,
}

pub(crate) fn identify(snap: &Snapshot, req: &Request) -> Identity {
    let id = &snap.config.identity;
    let client = req
        .headers
        .get(&id.client_ip_header)
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string);
    let user = req
        .headers
        .get(&id.username_header)
        .map(|v| v.trim().to_string())
        .or_else(|| {
            use base64::Engine;
            let v = req.headers.get(&id.username_base64_header)?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()?;
            String::from_utf8(raw).ok()
        })
        .filter(|u| !u.is_empty());
    Identity { client, user }
}
