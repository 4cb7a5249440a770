//! The configuration schema. Every field has a default; the doc comment of each field is what
//! the configuration reference says about it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod cluster;
pub mod console;
pub mod license;
pub mod limits;
pub mod notify;
pub mod policy;
pub mod syslog;
pub mod update;

pub(crate) use cluster::validate as validate_cluster;
pub use cluster::ClusterConfig;
pub use console::ConsoleConfig;
pub use license::LicenseConfig;
pub use limits::Limits;
pub use notify::NotifyConfig;
pub use policy::PolicyConfig;
pub use syslog::SyslogConfig;
pub use update::UpdateConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `[server]`: listeners, services, limits.
    pub server: ServerConfig,
    /// `[identity]`: where the client's address and user name come from.
    pub identity: IdentityConfig,
    /// `[answer]`: how answers are streamed while the object is scanned.
    pub answer: AnswerConfig,
    /// `[engine]`: signature databases.
    pub engine: EngineConfig,
    /// `[tls]`: ICAP over TLS (`icaps://`), optionally with client certificates.
    pub tls: TlsConfig,
    /// `[access]`: which client networks may use the service.
    pub access: AccessConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[cluster]`: the caches shared by a fleet of instances through Redis (off unless
    /// `redis` is set; see `docs/operations.md`).
    pub cluster: ClusterConfig,
    /// `[control]`: pid file, control socket, privileges.
    pub control: ControlConfig,
    /// `[notify]`: administrator notifications (NotifyScript, webhook).
    pub notify: NotifyConfig,
    /// `[license]`: licence enforcement (off unless `required = true`).
    pub license: LicenseConfig,
    /// `[policy]`: groups (`[policy.default]`, `[[policy.group]]`), filters, actions per
    /// status and block pages (see the `bulwark-policy` crate).
    pub policy: PolicyConfig,
    /// `[console]`: the administration web console and JSON API (off unless `listen` is set;
    /// see the `bulwark-console` crate and `docs/console.md`).
    pub console: ConsoleConfig,
    /// `[update]`: database update sources, trusted signing keys, proxy, install directory,
    /// schedule and PostUpdateCmd (`bulwark update`; see the `bulwark-update` crate).
    pub update: UpdateConfig,
    /// `[clamd]`: a clamd-protocol listener (clamdscan, mail filters, Nextcloud, c-icap's
    /// clamd_mod), off unless `listen` is set (see `docs/operations.md`).
    pub clamd: ClamdConfig,
    /// `[api]`: a JSON scanning API over HTTP (`POST /v1/scan`), off unless `listen` is set
    /// (see `docs/operations.md` and `docs/api-openapi.yaml`).
    pub api: ApiConfig,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Addresses to listen on (IPv4 and IPv6), e.g. `["127.0.0.1:1344", "[::1]:1344"]`.
    pub listen: Vec<SocketAddr>,
    /// Service paths answering RESPMOD (the first is the canonical one; others are aliases).
    pub respmod_paths: Vec<String>,
    /// Service paths answering REQMOD.
    pub reqmod_paths: Vec<String>,
    /// Maximum concurrent ICAP connections of all clients. Connections beyond it get
    /// `503 Service Unavailable` and are closed (the connection idle the longest makes room
    /// first).
    pub max_connections: usize,
    /// Maximum concurrent ICAP connections from one client address, so that one client (a
    /// misbehaving proxy, a flood from one host) cannot take every connection; beyond it the
    /// client's new connection gets `503` while other clients are still served. OPTIONS
    /// advertises it as `Max-Connections`, so a proxy such as Squid, which keeps to that value,
    /// is never refused. 0: three quarters of `max_connections`; larger than `max_connections`:
    /// `max_connections`.
    pub max_connections_per_client: usize,
    /// Maximum size of an ICAP head plus its encapsulated HTTP heads, in bytes.
    pub max_header_bytes: usize,
    /// Seconds to wait for the next bytes while a request is in progress.
    pub read_timeout_secs: u64,
    /// Seconds a whole request head (ICAP and encapsulated HTTP heads) may take from its first
    /// byte: a client that sends a byte now and then (slowloris) gets `408` and is closed.
    pub head_timeout_secs: u64,
    /// Seconds an idle persistent connection is kept open. When `max_connections` is reached,
    /// the connection idle the longest is closed to make room for a new one.
    pub idle_timeout_secs: u64,
    /// Seconds to let in-flight transactions finish on shutdown before they are cut.
    pub shutdown_grace_secs: u64,
    /// `Preview` size advertised in OPTIONS, in bytes (0 disables preview).
    pub preview_bytes: usize,
    /// `Options-TTL` advertised in OPTIONS, in seconds.
    pub options_ttl_secs: u64,
    /// Directory for temporary files: ICAP bodies, archive members and objects kept for their
    /// scan, when they go to disk.
    pub temp_path: PathBuf,
    /// Most bytes of objects in flight the whole server holds in memory (bodies waiting for
    /// their verdict or their client, members being unpacked, objects kept for the end of
    /// their scan); beyond it new bytes go to temp files in `temp_path` instead, so many large
    /// objects at once (or clients that stop reading) cannot grow the process. 0: no limit.
    pub body_memory_bytes: u64,
    /// Extensions for which the whole object is sent at once (`Transfer-Complete`).
    pub transfer_complete: Vec<String>,
    /// Extensions that need not be scanned (`Transfer-Ignore`); empty by default.
    pub transfer_ignore: Vec<String>,
}

impl ServerConfig {
    /// The connections one client address may hold: `max_connections_per_client`, or three
    /// quarters of `max_connections` when it is 0, never more than `max_connections`.
    pub fn per_client_limit(&self) -> usize {
        match self.max_connections_per_client {
            0 => (self.max_connections - self.max_connections / 4).max(1),
            n => n.min(self.max_connections),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 1344))],
            respmod_paths: vec!["/av/respmod".into()],
            reqmod_paths: vec!["/av/reqmod".into()],
            max_connections: 1024,
            max_connections_per_client: 0,
            max_header_bytes: 64 * 1024,
            read_timeout_secs: 120,
            head_timeout_secs: 30,
            idle_timeout_secs: 600,
            shutdown_grace_secs: 30,
            preview_bytes: 4096,
            options_ttl_secs: 3600,
            temp_path: std::env::temp_dir(),
            body_memory_bytes: 256 * 1024 * 1024,
            transfer_complete: Vec::new(),
            transfer_ignore: Vec::new(),
        }
    }
}

/// `[identity]`: client identity headers (SPEC F-ICAP-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// ICAP header carrying the client's address (Squid: `icap_send_client_ip on`).
    pub client_ip_header: String,
    /// ICAP header carrying the user name in plain text (Squid's default).
    pub username_header: String,
    /// ICAP header carrying the user name base64-encoded (c-icap's default).
    pub username_base64_header: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            client_ip_header: "X-Client-IP".into(),
            username_header: "X-Client-Username".into(),
            username_base64_header: "X-Authenticated-User".into(),
        }
    }
}

/// How the answer is sent while a long object is scanned (SPEC F-ICAP-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Stream the object back as it is scanned, holding back a tail until the verdict.
    Partial,
    /// Answer only after the whole object is scanned (bodies spill to `temp_path`).
    Complete,
    /// Like `complete`, but send `trickle_bytes` every `trickle_interval_secs` so slow
    /// clients and proxies do not time out; the held-back tail still waits for the verdict.
    Trickle,
}

/// What happens to an upload larger than `answer.upload_hold_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverBudget {
    /// Refuse it with the "too large" block page.
    Block,
    /// Stream it while it is scanned.
    Stream,
}

/// `[answer]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerConfig {
    /// `partial` (default), `complete` or `trickle`.
    pub mode: AnswerMode,
    /// Bytes held back until the verdict in `partial` mode (at least 4096).
    pub holdback_bytes: usize,
    /// The hold budget of `partial` mode: a download up to this size is scanned whole before
    /// its first byte goes out, so an infected one always gets the block page; a larger one
    /// (or one still arriving after `max_send_delay_ms`) streams with its tail held back, and a
    /// late detection cuts it. Squid 5.7 (Debian 12) stalls held bodies above 64 KiB (Squid bug
    /// 5352): keep the default there; Squid 6.9 and later hold whole objects, so tens of MiB
    /// fit (`bulwark squid snippet` says which). Held bodies spill to `temp_path` beyond
    /// `spool_memory_bytes`.
    pub max_hold_bytes: usize,
    /// In `partial` mode, streaming starts at the latest this many milliseconds after the
    /// request, so a client never waits on a slow origin long enough to time out.
    pub max_send_delay_ms: u64,
    /// Uploads (REQMOD) are held whole, spooled, up to this many bytes, and reach the origin
    /// only after their verdict.
    pub upload_hold_bytes: u64,
    /// What happens to an upload larger than `upload_hold_bytes`: `block` (default: refused as
    /// too large, nothing reaches the origin) or `stream` (sent on while it is scanned, with
    /// its tail held back: a late detection cuts it).
    pub upload_over_budget: OverBudget,
    /// Bytes of a held body kept in memory before it spills to a file in `temp_path`.
    pub spool_memory_bytes: usize,
    /// `trickle` mode: bytes sent per interval.
    pub trickle_bytes: usize,
    /// `trickle` mode: seconds between two trickles.
    pub trickle_interval_secs: u64,
    /// Seconds a download found infected stays blocked without a new scan (0 turns the
    /// blocked-object cache off). An object is known by its URL, its validators (ETag,
    /// Last-Modified, Content-Length) and the scanning options; uploads are never remembered.
    pub blocked_url_ttl_secs: u64,
    /// Most objects the blocked-object cache remembers (0 turns it off).
    pub blocked_url_max: usize,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            mode: AnswerMode::Partial,
            holdback_bytes: 4096,
            max_hold_bytes: 32 * 1024,
            max_send_delay_ms: 2000,
            upload_hold_bytes: 256 * 1024 * 1024,
            upload_over_budget: OverBudget::Block,
            spool_memory_bytes: 1024 * 1024,
            trickle_bytes: 1024,
            trickle_interval_secs: 10,
            blocked_url_ttl_secs: 1800,
            blocked_url_max: 10_000,
        }
    }
}

/// `[engine]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Signature files or directories (ClamAV formats), e.g. `["/var/lib/clamav"]`. Empty:
    /// `/var/lib/clamav` when it holds ClamAV files (freshclam's directory), else the built-in
    /// EICAR test signature only, with a warning at start and in `bulwark ctl status`. A
    /// database that loads no signature, or a file of it that loads nothing, is refused.
    pub database: Vec<PathBuf>,
    /// `[engine.limits]`: what one object may unpack to (depth, sizes, members, ratio, time);
    /// hitting one gives `limits-exceeded`, never a virus name.
    pub limits: Limits,
    /// Verdicts remembered for archives, executables and encoded bodies (keyed by content
    /// digest, database version and scan options), so a known object is not unpacked again;
    /// 0 turns the cache off. Emptied on every reload.
    pub verdict_cache_entries: usize,
    /// Days after which the signatures in use count as old (by their files' modification time:
    /// freshclam and `bulwark update` rewrite them when a new version arrives): a `database_old`
    /// notification (once a day) and `bulwark_database_age_seconds` on /metrics tell that
    /// updates stopped, even when the mirror keeps answering "up to date". 0: never.
    pub max_database_age_days: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            database: Vec::new(),
            limits: Limits::default(),
            verdict_cache_entries: 65_536,
            max_database_age_days: 7,
        }
    }
}

/// `[log]`: the report log (the daemon's own messages) and the statistics files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (overridden by `RUST_LOG`). kav4proxy's
    /// ReportLevel maps as 0-1 → error, 2 → warn, 3-4 → info, 9 → debug.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// Report log file; unset: standard error (journald picks it up under systemd).
    pub report_file: Option<PathBuf>,
    /// Append to the report log at start (false truncates it).
    pub append: bool,
    /// Also log clean objects in the report log (every object is always in `av_stats_file`).
    pub show_ok: bool,
    /// AV statistics log: one line per scanned object (kav4proxy's `av.stats`); unset: off.
    pub av_stats_file: Option<PathBuf>,
    /// Counter file written on SIGUSR2 or `bulwark ctl stats` (kav4proxy's `counter.stats`).
    pub counter_stats_file: Option<PathBuf>,
    /// `[log.syslog]`: central logs — per-object records and the report log to a syslog
    /// receiver (local socket, UDP or TCP), as RFC 5424 or CEF (see `docs/operations.md`).
    pub syslog: SyslogConfig,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
            report_file: None,
            append: true,
            show_ok: false,
            av_stats_file: None,
            counter_stats_file: None,
            syslog: SyslogConfig::default(),
        }
    }
}

/// `[metrics]`: Prometheus text exposition at `http://<listen>/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Addresses for the metrics endpoint; empty (default) turns it off. Keep it on loopback or
    /// an admin network.
    pub listen: Vec<SocketAddr>,
}

/// `[control]`: how `bulwark ctl` and init systems reach the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlConfig {
    /// Unix socket for `bulwark ctl`; unset turns it off.
    pub socket: Option<PathBuf>,
    /// Pid file written at start and removed at exit; unset: none.
    pub pid_file: Option<PathBuf>,
    /// User to switch to after binding the listeners (when started as root); unset: stay.
    pub user: Option<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            socket: Some(PathBuf::from("/run/bulwark/control.sock")),
            pid_file: Some(PathBuf::from("/run/bulwark/bulwark.pid")),
            user: None,
        }
    }
}

/// `[tls]`: a TLS listener beside (or instead of) the plain one (SPEC F-ICAP-6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Addresses for ICAP over TLS (Squid: `icaps://host:11344/...`); empty disables TLS.
    pub listen: Vec<SocketAddr>,
    /// Server certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Server private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to. Set: every TLS client
    /// must present a valid certificate (mutual TLS). Unset: no client certificate is asked.
    pub client_ca: Option<PathBuf>,
    /// Seconds a client may take to complete the TLS handshake.
    pub handshake_timeout_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            cert: None,
            key: None,
            client_ca: None,
            handshake_timeout_secs: 10,
        }
    }
}

/// `[access]`: client networks allowed to connect, checked before any ICAP is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessConfig {
    /// Allowed networks (`10.0.0.0/8`, `192.168.1.7`, `::1`); empty allows every address.
    pub allow: Vec<String>,
}

/// `[clamd]`: clamd's socket protocol (PING, VERSION, RELOAD, SHUTDOWN, SCAN, CONTSCAN,
/// MULTISCAN, ALLMATCHSCAN, INSTREAM, FILDES, STATS, IDSESSION/END) on Unix sockets and TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClamdConfig {
    /// Where to listen: Unix socket paths (starting with `/`) and TCP `addr:port`, e.g.
    /// `["/run/bulwark/clamd.sock", "127.0.0.1:3310"]`; empty (default) turns it off. File
    /// descriptor passing (FILDES, `clamdscan --fdpass`) works on Unix sockets only.
    pub listen: Vec<String>,
    /// clamd's StreamMaxLength: most bytes one INSTREAM may send (clamd's default, 100 MiB).
    /// A chunk beyond it gets `INSTREAM size limit exceeded. ERROR` and the connection closes.
    pub stream_max_length: u64,
    /// Most clamd connections served at once; one beyond waits in the listen queue, so one
    /// client cannot starve the ICAP service or the other clamd clients.
    pub max_connections: usize,
    /// Obey `SHUTDOWN` (stops the whole server, as clamd does); off by default: the command is
    /// ignored and the connection closed.
    pub allow_shutdown: bool,
    /// Directories under which SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN may read; a path
    /// outside them (after symlinks are resolved) gets `Access denied. ERROR`. Empty (default):
    /// path scanning is refused; INSTREAM and FILDES still work.
    pub scan_roots: Vec<PathBuf>,
    /// The policy group whose engine options apply to clamd scans; empty: the default group.
    pub group: String,
    /// A group per listener, overriding `group` for the clients of one `listen` entry:
    /// `"ENTRY = GROUP"` with the entry as written in `listen`, e.g.
    /// `["/run/bulwark/clamd-mail.sock = mail"]`.
    pub listener_groups: Vec<String>,
    /// Seconds to wait for the first command of a connection (clamd's CommandReadTimeout).
    pub command_read_timeout_secs: u64,
    /// Seconds to wait for the next bytes of a stream or the next command of an IDSESSION
    /// (clamd's ReadTimeout). A client that goes quiet is disconnected without a reply.
    pub read_timeout_secs: u64,
    /// Report objects on which a limit was hit as `Heuristics.Limits.Exceeded.*` (clamd's
    /// AlertExceedsMax; off, as in clamd: they are `OK`).
    pub alert_exceeds_max: bool,
    /// Report encrypted archives and documents as `Heuristics.Encrypted.*` (clamd's
    /// AlertEncrypted; off, as in clamd).
    pub alert_encrypted: bool,
    /// Report broken executables and containers as `Heuristics.Broken.*` (clamd's
    /// AlertBrokenExecutables; off, as in clamd).
    pub alert_broken: bool,
}

/// `[api]`: the JSON scanning API (`POST /v1/scan`, `GET /v1/database`, `GET /v1/health`),
/// token-authenticated, on its own HTTP listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Where to listen (`addr:port`, e.g. `["127.0.0.1:8344"]`); empty (default) turns the API
    /// off. It speaks plain HTTP: keep it on loopback or a trusted network.
    pub listen: Vec<SocketAddr>,
    /// The bearer token every request must carry (`Authorization: Bearer <token>`), at least
    /// 16 characters (e.g. `openssl rand -hex 24`). Required (or `token_file`) when `listen`
    /// is set.
    pub token: Option<String>,
    /// A file whose first line is the bearer token (instead of `token`, to keep it out of the
    /// configuration file).
    pub token_file: Option<PathBuf>,
    /// Largest object `POST /v1/scan` accepts, in bytes (default 100 MiB); a larger one gets
    /// `413` with a JSON error, and no more of it is read.
    pub max_body_bytes: u64,
    /// The policy group whose engine options apply to API scans; empty: the default group.
    /// The `[engine.limits]` apply as for ICAP.
    pub group: String,
    /// Most scans running at once; one more gets `503` with `Retry-After` (0, the default:
    /// twice the number of CPUs).
    pub max_concurrent_scans: usize,
    /// Wrong or missing tokens allowed per client address per minute (five times as many over
    /// all addresses); beyond, `429` with `Retry-After`.
    pub max_auth_failures_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            token: None,
            token_file: None,
            max_body_bytes: 100 * 1024 * 1024,
            group: String::new(),
            max_concurrent_scans: 0,
            max_auth_failures_per_minute: 10,
        }
    }
}

impl ClamdConfig {
    /// The `listener_groups` entries as `(listen entry, group)` (split at the last `=`,
    /// trimmed); `None` for an entry without `=`.
    pub fn listener_group_pairs(&self) -> impl Iterator<Item = Option<(&str, &str)>> {
        self.listener_groups
            .iter()
            .map(|e| e.rsplit_once('=').map(|(l, g)| (l.trim(), g.trim())))
    }

    /// The group of `listen` entry `listener` in `listener_groups`, if it has one.
    pub fn listener_group(&self, listener: &str) -> Option<&str> {
        self.listener_group_pairs()
            .flatten()
            .find(|(l, _)| *l == listener)
            .map(|(_, g)| g)
    }
}

impl Default for ClamdConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            stream_max_length: 100 * 1024 * 1024,
            max_connections: 128,
            allow_shutdown: false,
            scan_roots: Vec::new(),
            group: String::new(),
            listener_groups: Vec::new(),
            command_read_timeout_secs: 30,
            read_timeout_secs: 120,
            alert_exceeds_max: false,
            alert_encrypted: false,
            alert_broken: false,
        }
    }
}

#[cfg(test)]
mod per_client_tests {
    use super::ServerConfig;

    #[test]
    fn per_client_limit_defaults_to_three_quarters_and_never_passes_the_total() {
        let mut s = ServerConfig::default();
        assert_eq!(s.per_client_limit(), 768);
        s.max_connections = 120;
        assert_eq!(s.per_client_limit(), 90);
        s.max_connections_per_client = 500;
        assert_eq!(s.per_client_limit(), 120);
        s.max_connections_per_client = 7;
        assert_eq!(s.per_client_limit(), 7);
        s.max_connections = 2;
        s.max_connections_per_client = 0;
        assert_eq!(s.per_client_limit(), 2);
    }
}
