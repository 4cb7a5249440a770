//! Events and the message that carries one to the script and the webhook.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Something an administrator wants to hear about.
///
/// The JSON form is internally tagged: `{"event": "detection", "status": "INFECTED", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An object was found not clean (kav4proxy's detection notification).
    Detection {
        /// Scan status, kav4proxy style: `INFECTED`, `SUSPICIOUS`, `WARNING`, `CURED`,
        /// `PROTECTED`, `CORRUPTED`, `ERROR`… (`%VERDICT%`).
        status: String,
        /// Threat names found (`%VIRUS_LIST%`); may be empty (e.g. `ERROR`).
        threats: Vec<String>,
        /// Requested URL (`%URL%`).
        url: String,
        /// Client address from the ICAP request, when known (`%CLIENT_ADDR%`).
        client: Option<IpAddr>,
        /// Authenticated user, when known.
        user: Option<String>,
        /// Policy group the request was handled by.
        group: String,
        /// What was done: `DENY` (blocked), `CUT` (a late verdict stopped a transfer after part of
        /// it went out; it never arrived whole), `SKIP` (delivered) (`%ACTION%`).
        action: String,
        /// Object size in bytes as far as it was seen.
        size: u64,
    },
    /// Signature databases were updated.
    UpdateDone {
        /// Version of the databases now loaded.
        version: String,
    },
    /// A database update failed.
    UpdateFailed {
        /// Why.
        reason: String,
    },
    /// The loaded databases are older than the configured limit.
    DatabaseOld {
        /// Age of the newest database, in days.
        age_days: u64,
    },
    /// The licence expires soon.
    LicenseExpiring {
        /// Days left.
        days: i64,
    },
    /// The scan engine failed (database load, internal error).
    EngineError {
        /// Why.
        reason: String,
    },
    /// A configuration or database reload was refused; the old one stays in force.
    ReloadFailed {
        /// Why.
        reason: String,
    },
}

impl Event {
    /// Every kind, as [`Event::kind`] spells it (and `[notify] events` accepts).
    pub const KINDS: [&'static str; 7] = bulwark_config::notify::EVENT_KINDS;

    /// The event's kind in snake case: `detection`, `update_done`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Detection { .. } => "detection",
            Event::UpdateDone { .. } => "update_done",
            Event::UpdateFailed { .. } => "update_failed",
            Event::DatabaseOld { .. } => "database_old",
            Event::LicenseExpiring { .. } => "license_expiring",
            Event::EngineError { .. } => "engine_error",
            Event::ReloadFailed { .. } => "reload_failed",
        }
    }

    /// The key under which repeats are deduplicated: the kind plus, for a detection, the
    /// threats and the client (not the URL: one client fetching the same malware from many
    /// URLs is one story), and for the others their one field.
    pub fn dedup_key(&self) -> String {
        match self {
            Event::Detection {
                status,
                threats,
                client,
                ..
            } => {
                let client = client.map(|c| c.to_string()).unwrap_or_default();
                format!("detection\0{status}\0{}\0{client}", threats.join("\0"))
            }
            other => format!("{}\0{}", other.kind(), other.detail()),
        }
    }

    /// The one field of a non-detection event, as text (empty for a detection).
    pub fn detail(&self) -> String {
        match self {
            Event::Detection { .. } => String::new(),
            Event::UpdateDone { version } => version.clone(),
            Event::UpdateFailed { reason }
            | Event::EngineError { reason }
            | Event::ReloadFailed { reason } => reason.clone(),
            Event::DatabaseOld { age_days } => age_days.to_string(),
            Event::LicenseExpiring { days } => days.to_string(),
        }
    }

    /// The JSON form of the event alone (see [`Message`] for what is actually sent).
    pub fn to_json(&self) -> String {
        // Serializing this enum cannot fail: string keys, no maps, no custom impls.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What is delivered: the event plus when, and what was held back before it.
///
/// JSON: the event's fields flattened, then `time`, `product`, `repeats`, `dropped`:
/// `{"event":"detection","status":"INFECTED",…,"time":"2025-01-31T12:00:00Z",
/// "product":"Bulwark","repeats":2,"dropped":0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// When it was queued, RFC 3339 UTC.
    pub time: String,
    /// Product name (kav4proxy's `%PRODUCT%`).
    pub product: String,
    /// Repeats of this same event suppressed by deduplication since it was last sent.
    pub repeats: u64,
    /// Events of any kind dropped (rate limit or full queue) since the previous message.
    pub dropped: u64,
}

/// Product name sent as `product` and `PRODUCT`.
pub const PRODUCT: &str = "Bulwark";

impl Message {
    /// Wraps `event`, stamped with the current time.
    pub fn new(event: Event, repeats: u64, dropped: u64) -> Self {
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            event,
            time,
            product: PRODUCT.to_string(),
            repeats,
            dropped,
        }
    }

    /// The JSON sent on the script's stdin and as the webhook's body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
