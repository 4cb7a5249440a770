//! Every kav4proxy 5.5 key the importer knows, with its section and what becomes of it: one
//! table drives both the conversion and the notes, so that no key is silently ignored.
//!
//! The keys are those of the kav4proxy 5.5 administrator guide, the Kaspersky installer and
//! the files Artica writes (`UseHeuristics` is kept as an alias of `UseHeuristic`). A key
//! found in another section than its own is converted where it belongs, with a note; a key the
//! table does not know gets "unknown kav4proxy key". `docs/operations.md` summarises the
//! result for administrators (the `config import` paragraph).

/// What becomes of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// Converted (see `convert::apply`).
    Map(Conv),
    /// Not converted, for this reason (written in the note after the value).
    Refuse(&'static str),
}

/// Which conversion a key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conv {
    /// `BasesPath`: `engine.database` is ClamAV's directory (always written).
    BasesPath,
    /// `TempPath`: Bulwark's default temporary directory.
    TempPath,
    /// `ListenAddress` → `server.listen`.
    ListenAddress,
    /// `Timeout` → `server.read_timeout_secs`.
    Timeout,
    /// `AnswerMode` → `answer.mode`.
    AnswerMode,
    /// `MaxSendDelayTime` (seconds) → `answer.max_send_delay_ms`.
    MaxSendDelayTime,
    /// `PreviewSize` → `server.preview_bytes`.
    PreviewSize,
    /// `MaxConnections` → `server.max_connections`.
    MaxConnections,
    /// `ReqModeServiceUrl` → `server.reqmod_paths`.
    ReqModeUrl,
    /// `RespModeServiceUrl` → `server.respmod_paths`.
    RespModeUrl,
    /// `HTTPClientIpICAPHeader` → `identity.client_ip_header`.
    ClientIpHeader,
    /// `HTTPUserNameICAPHeader` → `identity.username_header`.
    UserNameHeader,
    /// `PidFile` → `control.pid_file`, Bulwark's.
    PidFile,
    /// A group's `Priority`.
    Priority,
    /// A group's `ClientIP` → `clients`.
    ClientIp,
    /// A group's `URL` → `urls`.
    Url,
    /// A group's `Users` → `users`.
    Users,
    /// A yes/no engine option → the named `engine` field.
    Engine(&'static str),
    /// `MaxScanTime` → `engine.max_scan_time_secs`.
    MaxScanTime,
    /// `MaxNestingLevel` → `engine.limits.max_depth` (server-wide).
    MaxNestingLevel,
    /// `ExcludeMimeType` → `filter.exclude_mime_types`.
    ExcludeMimeType,
    /// `ExcludeURL` → `filter.exclude_urls`.
    ExcludeUrl,
    /// `MaxReqLength` → `filter.max_req_length`.
    MaxReqLength,
    /// `…Action` → the named `actions` field; `true` when `cure` is a valid value.
    Action(&'static str, bool),
    /// `PartialResponseAction` → `filter.partial_response`.
    PartialResponse,
    /// `NotifyTemplateDir` → `policy.templates_dir` (written commented out).
    TemplateDir,
    /// `NotifyScript` → `notify.script`.
    NotifyScript,
    /// `AVStatisticsFile`, `AVStatisticsAddress` → `log.av_stats_file`, Bulwark's.
    AvStats,
    /// `CounterStatisticsFile`, `CounterStatisticsAddress` → `log.counter_stats_file`.
    CounterStats,
    /// `[icapserver.report] ReportFileName` → `log.report_file`, Bulwark's.
    ReportFile,
    /// `ReportLevel` → `log.level`.
    ReportLevel,
    /// `ShowOk` → `log.show_ok`.
    ShowOk,
    /// `[icapserver.report] Append` → `log.append`.
    Append,
    /// `[updater.report] ReportFileName` → `update.report_file`, Bulwark's.
    UpdateReportFile,
    /// `ProxyAddress` → `update.proxy` (with `UseProxy`).
    ProxyAddress,
    /// `UseProxy`: whether `ProxyAddress` is used.
    UseProxy,
    /// `PostUpdateCmd` → `update.post_update_cmd`, unless it is kav4proxy's own reload.
    PostUpdateCmd,
}

/// One key of kav4proxy.conf.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key {
    /// Its section, lower case, without `:group`.
    pub section: &'static str,
    /// The key as the guide spells it (compared without regard to ASCII case).
    pub name: &'static str,
    /// What becomes of it.
    pub rule: Rule,
}

/// Sections a named group may override (`[section:NAME]`).
pub(super) const GROUP_SECTIONS: &[&str] = &[
    "icapserver.groups",
    "icapserver.engine.options",
    "icapserver.filter",
    "icapserver.actions",
    "icapserver.notify",
];

const PROCESS: &str = "Bulwark has no worker processes: it is one async process; connections are \
                       bounded by server.max_connections";
const THREAT_CLASS: &str = "ClamAV's signatures are not sorted into Kaspersky's threat classes: \
                            every signature of engine.database applies (ClamAV's PUA databases \
                            are not loaded)";
const UPDATES: &str = "Kaspersky's updater fetches Kaspersky's bases, which Bulwark cannot read: \
                       freshclam keeps /var/lib/clamav current (see the operations guide), or \
                       `bulwark update` with [update] sources";
const LOCALE: &str = "Bulwark's logs and av.stats always write kav4proxy's default date and time \
                      (`%d-%m-%Y %H:%M:%S`)";

const fn map(section: &'static str, name: &'static str, c: Conv) -> Key {
    Key {
        section,
        name,
        rule: Rule::Map(c),
    }
}

const fn refuse(section: &'static str, name: &'static str, why: &'static str) -> Key {
    Key {
        section,
        name,
        rule: Rule::Refuse(why),
    }
}

/// Every key, by section in the guide's order.
pub(super) const KEYS: &[Key] = &[
    map("path", "BasesPath", Conv::BasesPath),
    refuse("path", "LicensePath", "Kaspersky's licence keys do not apply: Bulwark needs no key unless [license] required = true (keys in /var/lib/bulwark/license, `bulwark license`)"),
    map("path", "TempPath", Conv::TempPath),
    refuse("path", "KLPluginsPath", "Kaspersky's engine plugins: Bulwark's scanning engine is built in"),
    refuse("path", "FastTempPath", "no RAM temporary directory: bodies stay in memory up to answer.spool_memory_bytes and engine.limits.spill_bytes before they spill to the temporary directory"),
    refuse("options", "User", "the packaged service runs as the `bulwark` user (systemd User=, created by the package), which owns /var/lib/bulwark, /var/log/bulwark and /run/bulwark"),
    refuse("options", "Group", "the packaged service runs as the `bulwark` group (systemd Group=, created by the package)"),
    refuse("locale", "DateFormat", LOCALE),
    refuse("locale", "TimeFormat", LOCALE),
    map("icapserver.network", "ListenAddress", Conv::ListenAddress),
    map("icapserver.network", "Timeout", Conv::Timeout),
    refuse("icapserver.process", "MaxChildren", PROCESS),
    refuse("icapserver.process", "IdleChildren", "Bulwark has no worker processes to keep idle: one async process serves every connection (server.max_connections bounds them)"),
    refuse("icapserver.process", "MaxReqsPerChild", "Bulwark has no worker processes to recycle: one long-running process, restarted by systemd if it fails"),
    refuse("icapserver.process", "MaxEnginesPerChild", "Bulwark has no engine instances to count: scans run on the async runtime's threads (one per CPU); connections are bounded by server.max_connections"),
    map("icapserver.protocol", "AnswerMode", Conv::AnswerMode),
    map("icapserver.protocol", "MaxSendDelayTime", Conv::MaxSendDelayTime),
    map("icapserver.protocol", "PreviewSize", Conv::PreviewSize),
    map("icapserver.protocol", "MaxConnections", Conv::MaxConnections),
    refuse("icapserver.protocol", "Allow204", "no switch: Bulwark answers 204 whenever the ICAP client allows it (Allow: 204) and the object is delivered unchanged"),
    refuse("icapserver.protocol", "SendAVScanResult", "no switch: Bulwark always reports detections in ICAP headers (X-Infection-Found, X-Virus-ID, X-Violations-Found)"),
    map("icapserver.protocol", "ReqModeServiceUrl", Conv::ReqModeUrl),
    map("icapserver.protocol", "RespModeServiceUrl", Conv::RespModeUrl),
    map("icapserver.protocol", "HTTPClientIpICAPHeader", Conv::ClientIpHeader),
    map("icapserver.protocol", "HTTPUserNameICAPHeader", Conv::UserNameHeader),
    map("icapserver.path", "PidFile", Conv::PidFile),
    refuse("icapserver.path", "CorePath", "no core directory: core dumps go to systemd-coredump (`coredumpctl`)"),
    map("icapserver.groups", "Priority", Conv::Priority),
    map("icapserver.groups", "ClientIP", Conv::ClientIp),
    map("icapserver.groups", "URL", Conv::Url),
    map("icapserver.groups", "Users", Conv::Users),
    map("icapserver.engine.options", "ScanPacked", Conv::Engine("scan_packed")),
    map("icapserver.engine.options", "ScanArchives", Conv::Engine("scan_archives")),
    refuse("icapserver.engine.options", "ScanSFXArchives", "no separate switch: self-extracting archives are scanned with the other archives (engine.scan_archives)"),
    map("icapserver.engine.options", "ScanMailBases", Conv::Engine("scan_mail_bases")),
    map("icapserver.engine.options", "ScanMailPlain", Conv::Engine("scan_mail_plain")),
    map("icapserver.engine.options", "Cure", Conv::Engine("cure")),
    map("icapserver.engine.options", "UseHeuristic", Conv::Engine("use_heuristics")),
    map("icapserver.engine.options", "UseHeuristics", Conv::Engine("use_heuristics")),
    map("icapserver.engine.options", "UseAnalyzer", Conv::Engine("use_heuristics")),
    refuse("icapserver.engine.options", "HeuristicLevel", "Bulwark's heuristics have no level: they are on or off (engine.use_heuristics, from UseAnalyzer)"),
    refuse("icapserver.engine.options", "UseAVbasesSet", "Kaspersky's base sets (standard, extended, redundant) do not exist in ClamAV's database: every signature set is used (engine.signature_sets empty)"),
    map("icapserver.engine.options", "MaxScanTime", Conv::MaxScanTime),
    map("icapserver.engine.options", "MaxNestingLevel", Conv::MaxNestingLevel),
    refuse("icapserver.engine.options", "DetectVirware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectTrojware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectMalware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectAdware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectPornware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectRiskware", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectXfiles", THREAT_CLASS),
    refuse("icapserver.engine.options", "DetectSoftware", THREAT_CLASS),
    map("icapserver.filter", "ExcludeMimeType", Conv::ExcludeMimeType),
    map("icapserver.filter", "ExcludeURL", Conv::ExcludeUrl),
    map("icapserver.filter", "MaxReqLength", Conv::MaxReqLength),
    map("icapserver.actions", "InfectedAction", Conv::Action("infected", true)),
    map("icapserver.actions", "SuspiciousAction", Conv::Action("suspicious", true)),
    map("icapserver.actions", "WarningAction", Conv::Action("warning", true)),
    map("icapserver.actions", "ErrorAction", Conv::Action("error", false)),
    map("icapserver.actions", "ProtectedAction", Conv::Action("protected", false)),
    map("icapserver.actions", "CorruptedAction", Conv::Action("corrupted", false)),
    map("icapserver.actions", "CuredAction", Conv::Action("cured", false)),
    map("icapserver.actions", "LicenseErrorAction", Conv::Action("license_error", false)),
    map("icapserver.actions", "BasesErrorAction", Conv::Action("bases_error", false)),
    map("icapserver.actions", "MaxReqLengthAction", Conv::Action("too_large", false)),
    map("icapserver.actions", "PartialResponseAction", Conv::PartialResponse),
    refuse("icapserver.actions", "PartialRequestAction", "no equivalent: uploads are held whole and scanned like any other (answer.upload_hold_bytes, answer.upload_over_budget)"),
    map("icapserver.notify", "NotifyTemplateDir", Conv::TemplateDir),
    map("icapserver.notify", "NotifyScript", Conv::NotifyScript),
    map("icapserver.statistics", "CounterStatisticsFile", Conv::CounterStats),
    map("icapserver.statistics", "CounterStatisticsAddress", Conv::CounterStats),
    map("icapserver.statistics", "AVStatisticsFile", Conv::AvStats),
    map("icapserver.statistics", "AVStatisticsAddress", Conv::AvStats),
    map("icapserver.report", "ReportFileName", Conv::ReportFile),
    map("icapserver.report", "ReportLevel", Conv::ReportLevel),
    refuse("icapserver.report", "Buffered", "no switch: Bulwark writes every log line whole, at once"),
    map("icapserver.report", "ShowOk", Conv::ShowOk),
    map("icapserver.report", "Append", Conv::Append),
    refuse("updater.path", "BackUpPath", "Kaspersky's bases backup: freshclam manages /var/lib/clamav itself, and `bulwark update` keeps its own backup (update.backup_dir)"),
    refuse("updater.path", "AVBasesTestPath", "Kaspersky's bases checker: Bulwark checks every database before it uses it (one that would find nothing is refused and the old one keeps serving)"),
    refuse("updater.options", "UpdateServerUrl", UPDATES),
    refuse("updater.options", "UseUpdateServerUrl", UPDATES),
    refuse("updater.options", "UseUpdateServerUrlOnly", UPDATES),
    refuse("updater.options", "RegionSettings", "Kaspersky's mirror region: freshclam chooses ClamAV's mirrors (DatabaseMirror in freshclam.conf)"),
    map("updater.options", "PostUpdateCmd", Conv::PostUpdateCmd),
    refuse("updater.options", "ConnectTimeout", "no connect-only timeout: update.timeout_secs covers each whole download, so its default (60 s) applies"),
    map("updater.options", "ProxyAddress", Conv::ProxyAddress),
    map("updater.options", "UseProxy", Conv::UseProxy),
    refuse("updater.options", "PassiveFtp", "Bulwark's update sources are HTTP(S) mirrors or local directories: no FTP"),
    refuse("updater.options", "KeepSilent", "no equivalent: `bulwark update` prints one summary and logs to update.report_file"),
    map("updater.report", "ReportFileName", Conv::UpdateReportFile),
    refuse("updater.report", "ReportLevel", "no level: `bulwark update` writes one line per run to update.report_file"),
    refuse("updater.report", "Append", "update.report_file is always appended to"),
];

/// The key `name` of `section`, if the table has it.
pub(super) fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.section == section && k.name.eq_ignore_ascii_case(name))
}

/// Where a key written in the wrong `section` belongs: its only section in the table, or,
/// when several sections have it (`ReportFileName`), the only one under the same top-level
/// name (`icapserver` or `updater`). `None` when it is unknown or still ambiguous.
pub(super) fn home(section: &str, name: &str) -> Option<&'static Key> {
    let all: Vec<&Key> = KEYS
        .iter()
        .filter(|k| k.name.eq_ignore_ascii_case(name))
        .collect();
    if let [one] = all.as_slice() {
        return Some(one);
    }
    let top = |s: &str| s.split('.').next().unwrap_or("").to_string();
    let near: Vec<&Key> = all
        .into_iter()
        .filter(|k| top(k.section) == top(section))
        .collect();
    match near.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Whether `section` has `[section:NAME]` forms.
pub(super) fn per_group(section: &str) -> bool {
    GROUP_SECTIONS.contains(&section)
}

/// Bulwark's packaged paths (`packaging/bulwark.service`, `packaging/bulwark.toml`): the
/// Debian service may write only its private `/tmp`, `/var/lib/bulwark`, `/var/log/bulwark`,
/// `/var/cache/bulwark` and `/run/bulwark`.
pub(super) mod paths {
    /// ClamAV's database, kept current by freshclam.
    pub const DATABASE: &str = "/var/lib/clamav";
    /// The report log (rotated by the packaged logrotate file: `/var/log/bulwark/*.log`).
    pub const REPORT_FILE: &str = "/var/log/bulwark/bulwark.log";
    /// The AV statistics log (rotated by the packaged logrotate file).
    pub const AV_STATS: &str = "/var/log/bulwark/av.stats";
    /// The counter file.
    pub const COUNTER_STATS: &str = "/var/log/bulwark/counter.stats";
    /// `bulwark update`'s report (rotated with the other `*.log`).
    pub const UPDATE_REPORT: &str = "/var/log/bulwark/update.log";
    /// The pid file (`RuntimeDirectory=bulwark`).
    pub const PID_FILE: &str = "/run/bulwark/bulwark.pid";
    /// Block-page templates (`policy.templates_dir`'s example in the shipped file).
    pub const TEMPLATES: &str = "/etc/bulwark/templates";
    /// Where a notification script copied out of Kaspersky's tree goes.
    pub const SCRIPTS: &str = "/usr/local/bin";
    /// The directories the packaged service may write, for notes.
    pub const WRITABLE: &str = "its private /tmp, /var/lib/bulwark, /var/log/bulwark, \
                                /var/cache/bulwark and /run/bulwark";
}

/// Whether `path` lies in Kaspersky's trees (`/opt/kaspersky`, `/var/opt/kaspersky`,
/// `/var/log/kaspersky`, `/var/run/kav4proxy`…), which go when kav4proxy is removed.
pub(super) fn kaspersky_path(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.contains("kaspersky") || p.contains("kav4proxy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_twice_in_a_section() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                KEYS[..i]
                    .iter()
                    .all(|o| o.section != k.section || !o.name.eq_ignore_ascii_case(k.name)),
                "{}.{} twice",
                k.section,
                k.name
            );
        }
    }

    #[test]
    fn homes_of_moved_keys() {
        let h = |s, n| home(s, n).map(|k| k.section);
        assert_eq!(
            h("icapserver.protocol", "maxreqlength"),
            Some("icapserver.filter")
        );
        assert_eq!(
            h("icapserver.statistics", "ReportFileName"),
            Some("icapserver.report")
        );
        assert_eq!(
            h("updater.options", "ReportFileName"),
            Some("updater.report")
        );
        assert_eq!(h("nosuch", "ReportFileName"), None);
        assert_eq!(h("icapserver.protocol", "NoSuchKey"), None);
    }
}
