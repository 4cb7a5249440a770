//! The policy's configuration schema: `[policy]` in `bulwark.toml`. Plain data with a default
//! for every key; the `bulwark-policy` crate checks it and compiles it into matchers
//! (`Policy::compile`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[policy]`: the default group, the named groups and the block-page templates.
///
/// ```toml
/// [policy]
/// templates_dir = "/etc/bulwark/templates"   # optional
///
/// [policy.default]                            # used when no group matches
/// [policy.default.actions]
/// infected = "deny"
///
/// [[policy.group]]
/// name = "managers"
/// priority = 10
/// clients = ["192.168.1.0/24", "10.1.0.0/255.255.0.0", "2001:db8::/32"]
/// [policy.group.actions]
/// suspicious = "skip"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// `[policy.default]`: the group used when no named group matches (its match criteria
    /// are ignored).
    #[serde(rename = "default")]
    pub default_group: GroupConfig,
    /// `[[policy.group]]`: named groups, tried by priority (highest first), then by name.
    /// Every group is complete on its own: a key it does not write takes the built-in
    /// default, not the value of `[policy.default]`.
    #[serde(rename = "group")]
    pub groups: Vec<GroupConfig>,
    /// Directory overriding the built-in block pages: `<dir>/<lang>/<name>.html` or
    /// `<dir>/<name>.html` (e.g. `de/object_infected.html`). Unset: built-in pages only.
    pub templates_dir: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            default_group: GroupConfig {
                name: "default".into(),
                ..GroupConfig::default()
            },
            groups: Vec::new(),
            templates_dir: None,
        }
    }
}

/// One group: who it applies to, and how their objects are scanned and answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupConfig {
    /// Unique name, shown in logs and as `%GROUP%` on block pages.
    pub name: String,
    /// Groups with a higher priority are tried first; equal priorities go by name.
    pub priority: i32,
    /// Client addresses: `192.168.1.0/24`, `192.168.1.0/255.255.255.0`, `10.0.0.7`,
    /// `2001:db8::/32`, `::1`. Empty: any client.
    pub clients: Vec<String>,
    /// User names (compared without regard to ASCII case). Empty: any user.
    pub users: Vec<String>,
    /// URL regular expressions, tried on the URL as given and without its scheme
    /// (so `^www\.example\.com/` works as in kav4proxy). Empty: any URL.
    pub urls: Vec<String>,
    /// Scan options for this group's objects.
    pub engine: EngineOptions,
    /// Which objects are scanned.
    pub filter: FilterConfig,
    /// What is done for each scan status.
    pub actions: ActionsConfig,
    /// Add `Cache-Control: private, no-store` to objects this group lets through (RESPMOD), so
    /// a proxy cache does not serve them to clients of stricter groups: Squid caches the
    /// verdict of whoever fetched an object first (SPEC F-POL-6).
    pub mark_uncacheable: bool,
}

/// Scan options of a group (kav4proxy's `[icapserver.engine.options]`); the server maps them
/// to the engine's scan options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineOptions {
    /// Unpack packed executables (`ScanPacked`).
    pub scan_packed: bool,
    /// Look inside archives (`ScanArchives`).
    pub scan_archives: bool,
    /// Look inside mailbox files (`ScanMailBases`).
    pub scan_mail_bases: bool,
    /// Look inside plain e-mail messages (`ScanMailPlain`).
    pub scan_mail_plain: bool,
    /// Heuristic detections (`UseHeuristics`, `UseAnalyzer`).
    pub use_heuristics: bool,
    /// Try to disinfect (`Cure`); a cured object gets the `cured` status.
    pub cure: bool,
    /// Scan time limit per object in seconds (`MaxScanTime`); over it the status is `error`.
    /// 0: no limit.
    pub max_scan_time_secs: u64,
    /// Signature sets to use (`UseAVbasesSet`, e.g. `standard`, `extended`). Empty: all.
    pub signature_sets: Vec<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            scan_packed: true,
            scan_archives: true,
            scan_mail_bases: true,
            scan_mail_plain: true,
            use_heuristics: true,
            cure: false,
            max_scan_time_secs: 300,
            signature_sets: Vec::new(),
        }
    }
}

/// What happens to a partial (HTTP 206) response (`PartialResponseAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartialAction {
    /// Scan the fragment like any object (kav4proxy's `check`).
    Scan,
    /// Deliver it unscanned.
    Skip,
    /// Block it (template `object_partial`).
    Deny,
}

/// Which objects are scanned (kav4proxy's `[icapserver.filter]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterConfig {
    /// URL regular expressions of objects not scanned (`ExcludeURL`), tried like
    /// [`GroupConfig::urls`].
    pub exclude_urls: Vec<String>,
    /// Content-Type regular expressions (case-insensitive, parameters removed) of objects not
    /// scanned (`ExcludeMimeType`). The default excludes streaming media.
    pub exclude_mime_types: Vec<String>,
    /// File types sniffed from the first bytes that are scanned even when their Content-Type
    /// is excluded: kinds (`executable`, `archive`, `document`, `image`, `audio`, `video`) or
    /// types (`pe`, `elf`, `zip`, `pdf`…). Empty: Content-Type exclusions are trusted.
    pub always_scan_types: Vec<String>,
    /// Objects larger than this many bytes are not scanned; `actions.too_large` decides
    /// (`MaxReqLength`). 0: no limit.
    pub max_req_length: u64,
    /// HTTP methods answered at once without scanning (no body worth scanning).
    pub skip_methods: Vec<String>,
    /// HTTP 206 partial responses (`PartialResponseAction`): `scan`, `skip` or `deny`.
    pub partial_response: PartialAction,
}

/// The streaming-media Content-Types excluded by default.
pub const DEFAULT_EXCLUDED_MIME_TYPES: &[&str] = &[
    "^audio/",
    "^video/",
    "^application/ogg$",
    "^application/x-mpegurl$",
    "^application/vnd\\.apple\\.mpegurl$",
    "^application/vnd\\.rn-realmedia$",
];

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            exclude_urls: Vec::new(),
            exclude_mime_types: DEFAULT_EXCLUDED_MIME_TYPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            always_scan_types: vec!["executable".into(), "archive".into(), "document".into()],
            max_req_length: 0,
            skip_methods: vec!["CONNECT".into(), "HEAD".into()],
            partial_response: PartialAction::Scan,
        }
    }
}

/// What to do with an object of a given status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver the object as it is.
    Skip,
    /// Replace it with the block page.
    Deny,
    /// Deliver the cured copy when the engine made one, else deny.
    Cure,
}

impl Action {
    /// `SKIP`, `DENY` or `CURE` (kav4proxy's `%ACTION%` spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Skip => "SKIP",
            Action::Deny => "DENY",
            Action::Cure => "CURE",
        }
    }
}

/// Actions per status (kav4proxy's `[icapserver.actions]`). Errors fail closed by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionsConfig {
    /// `InfectedAction` (default `deny`).
    pub infected: Action,
    /// `SuspiciousAction` (default `deny`).
    pub suspicious: Action,
    /// `WarningAction` (default `deny`).
    pub warning: Action,
    /// `CuredAction`: the cured copy (default `skip`: deliver it).
    pub cured: Action,
    /// `ProtectedAction`: encrypted archives and documents, whose content cannot be checked
    /// (default `deny`, as kav4proxy: the user gets a page saying why; ClamAV alone reports
    /// them clean unless AlertEncrypted is on). `skip` delivers them unscanned.
    pub protected: Action,
    /// `CorruptedAction` (default `deny`).
    pub corrupted: Action,
    /// `ErrorAction`: the scan failed or timed out (default `deny`).
    pub error: Action,
    /// A depth, size, ratio or count limit was hit (default `deny`).
    pub limits_exceeded: Action,
    /// Over `filter.max_req_length` (`MaxReqLengthAction`, default `skip`).
    pub too_large: Action,
    /// `LicenseErrorAction` (default `deny`).
    pub license_error: Action,
    /// `BasesErrorAction`: no usable signatures (default `deny`).
    pub bases_error: Action,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            infected: Action::Deny,
            suspicious: Action::Deny,
            warning: Action::Deny,
            cured: Action::Skip,
            protected: Action::Deny,
            corrupted: Action::Deny,
            error: Action::Deny,
            limits_exceeded: Action::Deny,
            too_large: Action::Skip,
            license_error: Action::Deny,
            bases_error: Action::Deny,
        }
    }
}
