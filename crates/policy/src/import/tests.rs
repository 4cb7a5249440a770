//! Import tests: both worked examples convert, load, and decide as kav4proxy would; a file
//! with every key of the administrator guide is converted or noted key by key.

use std::collections::HashSet;
use std::net::IpAddr;

use bulwark_engine::Status;
use serde::Deserialize;

use super::groups::client;
use super::*;
use crate::{FilterDecision, ObjectInfo, Policy, SkipReason, Template};
use bulwark_config::policy::Action;
use bulwark_config::PolicyConfig;

const COMMON: &str = include_str!("../../tests/data/kav4proxy-common.conf");
const GROUPS: &str = include_str!("../../tests/data/kav4proxy-groups.conf");
const EVERY_KEY: &str = include_str!("../../tests/data/kav4proxy-every-key.conf");

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    server: toml::Table,
    #[serde(default)]
    answer: toml::Table,
    #[serde(default)]
    identity: toml::Table,
    #[serde(default)]
    log: toml::Table,
    #[serde(default)]
    engine: toml::Table,
    #[serde(default)]
    control: toml::Table,
    #[serde(default)]
    notify: toml::Table,
    #[serde(default)]
    update: toml::Table,
}

fn load(text: &str) -> (File, Policy, Vec<ImportNote>) {
    let imp = kav4proxy(text).expect("imports");
    let file: File = toml::from_str(&imp.toml).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
    let policy = Policy::compile(&file.policy).unwrap_or_else(|e| panic!("{e:?}\n{}", imp.toml));
    (file, policy, imp.notes)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("address"))
}

fn get(url: &str) -> ObjectInfo<'_> {
    ObjectInfo {
        method: "GET",
        url,
        http_status: Some(200),
        ..ObjectInfo::default()
    }
}

#[test]
fn common_settings_example() {
    let (f, p, notes) = load(COMMON);
    assert_eq!(f.server["listen"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(f.server["listen"][0].as_str(), Some("0.0.0.0:1344"));
    // TempPath=/tmp: Bulwark's default temporary directory (a private /tmp under systemd).
    assert!(f.server.get("temp_path").is_none(), "{:?}", f.server);
    assert_eq!(f.server["max_connections"].as_integer(), Some(5000));
    assert_eq!(f.server["preview_bytes"].as_integer(), Some(1024));
    assert_eq!(f.server["read_timeout_secs"].as_integer(), Some(5));
    assert_eq!(f.server["respmod_paths"][0].as_str(), Some("/av/respmod"));
    assert_eq!(f.answer["mode"].as_str(), Some("partial"));
    assert_eq!(f.answer["max_send_delay_ms"].as_integer(), Some(10_000));
    assert_eq!(f.identity["client_ip_header"].as_str(), Some("X-Client-IP"));
    assert_eq!(f.log["level"].as_str(), Some("info"));
    // Kaspersky's paths become the packaged service's; the database is ClamAV's.
    assert_eq!(
        f.log["report_file"].as_str(),
        Some("/var/log/bulwark/bulwark.log")
    );
    assert_eq!(
        f.control["pid_file"].as_str(),
        Some("/run/bulwark/bulwark.pid")
    );
    assert_eq!(f.engine["database"][0].as_str(), Some("/var/lib/clamav"));
    assert!(f.policy.groups.is_empty());
    let g = p.select(ip("10.1.2.3"), None, "http://a.test/");
    assert!(g.is_default());
    let e = g.engine();
    assert!(e.cure && e.scan_archives && e.scan_packed && !e.scan_mail_bases);
    assert_eq!(e.max_scan_time_secs, 300);
    for (s, a) in [
        (Status::Infected, Action::Deny),
        (Status::Suspicious, Action::Deny),
        (Status::Warning, Action::Deny),
        (Status::Error, Action::Skip),
        (Status::Protected, Action::Skip),
        (Status::Corrupted, Action::Skip),
        (Status::LicenseError, Action::Deny),
    ] {
        assert_eq!(g.action(s), a, "{s}");
    }
    let excluded = get("http://www.example.com/setup.exe");
    assert_eq!(
        g.filter(&excluded),
        FilterDecision::Skip(SkipReason::ExcludedUrl)
    );
    assert_eq!(
        g.filter(&get("http://www.example.org/")),
        FilterDecision::Scan
    );
    let keys: Vec<&str> = notes.iter().map(|n| n.key.as_str()).collect();
    for k in [
        "path.BasesPath",
        "path.TempPath",
        "icapserver.path.PidFile",
        "icapserver.report.ReportFileName",
        "options.User",
        "icapserver.process.MaxChildren",
        "icapserver.protocol.Allow204",
    ] {
        assert!(keys.contains(&k), "{k} not in {keys:?}");
    }
    assert!(notes.iter().all(|n| n.line > 0));
    assert_eq!(f.policy.templates_dir, None);
    let imp = kav4proxy(COMMON).expect("imports");
    assert!(
        imp.toml.contains(
            "\n# templates_dir = '/etc/bulwark/templates'  # kav4proxy: NotifyTemplateDir (line 64)\n"
        ),
        "{}",
        imp.toml
    );
    assert_accounted(COMMON, &imp);
}

#[test]
fn groups_example() {
    let (f, p, notes) = load(GROUPS);
    assert_eq!(f.server["listen"][0].as_str(), Some("192.168.0.1:1344"));
    assert_eq!(f.answer["mode"].as_str(), Some("complete"));
    let names: Vec<_> = p.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, vec!["sales", "managers"]);
    // Kaspersky's base sets are not ClamAV's: every signature applies.
    let keys: Vec<&str> = notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["icapserver.engine.options.UseAVbasesSet"],
        "{notes:?}"
    );
    assert_accounted(GROUPS, &kav4proxy(GROUPS).expect("imports"));

    let manager = p.select(ip("192.168.1.20"), None, "http://a.test/");
    let sales = p.select(ip("192.168.2.20"), None, "http://a.test/");
    let sales3 = p.select(ip("192.168.3.7"), None, "http://a.test/");
    let other = p.select(ip("192.168.4.1"), None, "http://a.test/");
    assert_eq!(
        (manager.name(), sales.name(), sales3.name(), other.name()),
        ("managers", "sales", "sales", "default")
    );

    // Engine options: the group's keys over the default section's.
    assert!(manager.engine().cure && manager.engine().scan_archives);
    assert_eq!(manager.engine().max_scan_time_secs, 600);
    assert!(manager.engine().signature_sets.is_empty());
    assert!(!sales.engine().cure && !sales.engine().scan_archives);
    assert!(!other.engine().cure && other.engine().scan_archives);

    // Actions per status.
    let table = [
        (Status::Suspicious, Action::Skip, Action::Deny, Action::Deny),
        (Status::Protected, Action::Skip, Action::Deny, Action::Deny),
        (Status::Warning, Action::Deny, Action::Skip, Action::Deny),
        (Status::Infected, Action::Deny, Action::Deny, Action::Deny),
        (Status::Error, Action::Deny, Action::Deny, Action::Deny),
        (Status::TooLarge, Action::Deny, Action::Skip, Action::Deny),
    ];
    for (s, m, sa, d) in table {
        assert_eq!(
            (manager.action(s), sales.action(s), other.action(s)),
            (m, sa, d),
            "{s}"
        );
    }

    // Filters: sizes, partial responses, MIME exclusions with sniffing, URLs.
    let mut big = get("http://a.test/big.iso");
    big.content_length = Some(20 * 1024 * 1024);
    assert_eq!(manager.filter(&big), FilterDecision::Scan);
    assert_eq!(
        sales.filter(&big),
        FilterDecision::Skip(SkipReason::TooLarge)
    );
    assert_eq!(
        other.filter(&big),
        FilterDecision::Deny(Template::ObjectTooLarge)
    );
    let mut part = get("http://a.test/x");
    part.http_status = Some(206);
    assert_eq!(manager.filter(&part), FilterDecision::Scan);
    assert_eq!(
        other.filter(&part),
        FilterDecision::Deny(Template::ObjectPartial)
    );
    let mut video = get("http://a.test/v");
    video.content_type = Some("video/mp4");
    assert_eq!(
        sales.filter(&video),
        FilterDecision::NeedBytes(crate::SNIFF_BYTES)
    );
    video.first_bytes = Some(b"MZ\x90\x00");
    assert_eq!(sales.filter(&video), FilterDecision::Scan);
    video.first_bytes = Some(b"\0\0\0\x18ftypmp42");
    assert_eq!(
        sales.filter(&video),
        FilterDecision::Skip(SkipReason::ExcludedMimeType)
    );
    assert_eq!(
        sales.filter(&get("http://crm.example.com/a")),
        FilterDecision::Skip(SkipReason::ExcludedUrl)
    );
    assert_eq!(
        manager.filter(&get("http://crm.example.com/a")),
        FilterDecision::Scan
    );

    // Client-based groups differ from the default: Squid's cache makes that unsafe.
    assert_eq!(crate::cache_safety_warnings(&f.policy).len(), 2);
}

#[test]
fn unconvertible_group_criteria_drop_the_group() {
    let text = "[icapserver.groups:odd]\nPriority=3\nClientIP=^(10|11)\\..*\n[icapserver.actions:odd]\nInfectedAction=skip\n[icapserver.actions:ghost]\nInfectedAction=skip\n";
    let imp = kav4proxy(text).expect("imports");
    assert!(!imp.toml.contains("[[policy.group]]"), "{}", imp.toml);
    let keys: Vec<_> = imp.notes.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "icapserver.groups:odd",
            "icapserver.groups:odd.Priority",
            "icapserver.groups:odd.ClientIP",
            "icapserver.actions:odd.InfectedAction",
            "icapserver.actions:ghost.InfectedAction",
        ]
    );
    assert_eq!(imp.notes[0].line, 1);
    assert_accounted(text, &imp);
}

#[test]
fn client_values() {
    assert_eq!(client(".*"), Some(None));
    assert_eq!(client("192.168.12.1"), Some(Some("192.168.12.1/32".into())));
    assert_eq!(
        client("192.168.12.1/255.255.255.0"),
        Some(Some("192.168.12.0/24".into()))
    );
    assert_eq!(
        client("^192\\.168\\.12\\..*"),
        Some(Some("192.168.12.0/24".into()))
    );
    assert_eq!(client("^10\\."), Some(Some("10.0.0.0/8".into())));
    assert_eq!(client("^10\\.1\\.2\\.3$"), Some(Some("10.1.2.3/32".into())));
    assert_eq!(client("^1[0-9]\\..*"), None);
}

#[test]
fn bad_values_become_notes_not_toml() {
    let text = "[icapserver.actions]\nInfectedAction=maybe\nErrorAction=cure\n[icapserver.filter]\nExcludeURL=(\n[icapserver.protocol]\nAnswerMode=fast\n[nosuch]\nX=1\n";
    let imp = kav4proxy(text).expect("imports");
    assert_eq!(imp.notes.len(), 5, "{:?}", imp.notes);
    let f: File = toml::from_str(&imp.toml).expect("toml");
    assert_eq!(f.policy, PolicyConfig::default());
    assert!(imp.notes[0]
        .to_string()
        .starts_with("line 2: icapserver.actions.InfectedAction"));
}

/// The `(key, line)` pairs named in the TOML's `# kav4proxy: Key (line N), Other (lines N, M)`
/// comments.
fn toml_sources(toml: &str) -> HashSet<(String, usize)> {
    let mut out = HashSet::new();
    for l in toml.lines() {
        let Some((_, rest)) = l.split_once("# kav4proxy: ") else {
            continue;
        };
        for chunk in rest.split(')') {
            let Some((head, nums)) = chunk
                .rsplit_once(" (lines ")
                .or_else(|| chunk.rsplit_once(" (line "))
            else {
                continue;
            };
            let key = head.rsplit([' ', ',']).next().unwrap_or("");
            for n in nums.split(", ") {
                if let Ok(n) = n.trim().parse::<usize>() {
                    out.insert((key.to_string(), n));
                }
            }
        }
    }
    out
}

/// Every `Key=Value` line of `conf` is in the TOML (a comment names its key and line) or in
/// a note naming its key, on its line.
fn assert_accounted(conf: &str, imp: &Imported) {
    let in_toml = toml_sources(&imp.toml);
    let mut seen = 0;
    for (i, l) in conf.lines().enumerate() {
        let line = i + 1;
        let l = l.trim();
        if l.is_empty() || l.starts_with(['#', ';', '[']) {
            continue;
        }
        let Some((key, _)) = l.split_once('=') else {
            panic!("line {line} is not Key=Value: {l}");
        };
        let key = key.trim();
        seen += 1;
        let noted = imp
            .notes
            .iter()
            .any(|n| n.line == line && n.key.rsplit('.').next() == Some(key));
        assert!(
            noted || in_toml.contains(&(key.to_string(), line)),
            "line {line} `{l}` is neither in the TOML nor in a note\n{}\n{:#?}",
            imp.toml,
            imp.notes
        );
    }
    assert!(seen > 0);
}

/// Every `table.key` of Bulwark's configuration, from the reference file generated from the
/// schema (`packaging/bulwark.toml`, written by crates/config/tests/reference.rs).
fn reference_keys() -> HashSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/bulwark.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut table = String::new();
    let mut keys = HashSet::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix('#') else {
            continue;
        };
        let header = rest
            .strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
            .or_else(|| rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')));
        if let Some(h) = header {
            table = h.to_string();
            continue;
        }
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        if let Some((k, _)) = rest.split_once(" = ") {
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                keys.insert(format!("{table}.{k}"));
            }
        }
    }
    keys
}

/// Keys of `v` (under `path`) that Bulwark's configuration does not have; a group's keys are
/// those of `[policy.default]`.
fn unknown_keys(v: &toml::Table, path: &str, known: &HashSet<String>, out: &mut Vec<String>) {
    for (k, val) in v {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match val {
            toml::Value::Table(t) => unknown_keys(t, &p, known, out),
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
                for t in a.iter().filter_map(toml::Value::as_table) {
                    unknown_keys(t, &p, known, out);
                }
            }
            _ => {
                let as_default = p.replacen("policy.group.", "policy.default.", 1);
                if !known.contains(&p) && !known.contains(&as_default) {
                    out.push(p);
                }
            }
        }
    }
}

/// Every string value of the document.
fn strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn note_for<'a>(notes: &'a [ImportNote], key: &str) -> &'a ImportNote {
    notes
        .iter()
        .find(|n| n.key == key)
        .unwrap_or_else(|| panic!("no note for {key}: {notes:#?}"))
}

#[test]
fn every_key_of_the_guide_is_converted_or_noted() {
    let imp = kav4proxy(EVERY_KEY).expect("imports");
    assert_accounted(EVERY_KEY, &imp);
    // The file uses every key the importer knows.
    for k in keys::KEYS {
        let header = format!("[{}", k.section);
        let mut section = String::new();
        let found = EVERY_KEY.lines().any(|l| {
            if l.starts_with('[') {
                section = l.to_string();
            }
            (section == format!("{header}]") || section.starts_with(&format!("{header}:")))
                && l.split_once('=').map(|(n, _)| n) == Some(k.name)
        });
        assert!(found, "{}.{} is not in the file", k.section, k.name);
    }
    // Unknown keys say so.
    assert!(note_for(&imp.notes, "icapserver.process.SpawnDelay")
        .why
        .contains("unknown kav4proxy key"));
    // Refusals give a reason, not just "no equivalent".
    assert!(note_for(&imp.notes, "icapserver.process.MaxChildren")
        .why
        .contains("server.max_connections"));
    assert!(imp.notes.iter().all(|n| !n.why.trim().is_empty()));
}

#[test]
fn every_key_output_loads_without_unknown_keys() {
    let imp = kav4proxy(EVERY_KEY).expect("imports");
    let (f, p, _) = load(EVERY_KEY);
    let doc: toml::Table = toml::from_str(&imp.toml).expect("toml");
    let known = reference_keys();
    assert!(
        known.contains("server.listen") && known.contains("policy.default.filter.max_req_length")
    );
    let mut unknown = Vec::new();
    unknown_keys(&doc, "", &known, &mut unknown);
    assert!(unknown.is_empty(), "{unknown:?}\n{}", imp.toml);

    assert_eq!(f.server["listen"][0].as_str(), Some("127.0.0.1:1344"));
    assert_eq!(f.server["max_connections"].as_integer(), Some(5000));
    assert_eq!(f.answer["mode"].as_str(), Some("complete"));
    assert_eq!(
        f.identity["username_header"].as_str(),
        Some("X-Client-Username")
    );
    assert_eq!(doc["engine"]["limits"]["max_depth"].as_integer(), Some(8));
    assert_eq!(f.log["show_ok"].as_bool(), Some(true));
    assert_eq!(f.log["level"].as_str(), Some("info"));
    assert_eq!(
        f.update["proxy"].as_str(),
        Some("http://proxy.example.com:3128")
    );
    assert!(
        f.update.get("post_update_cmd").is_none(),
        "kav4proxy's own reload"
    );
    let names: Vec<_> = p.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, vec!["managers", "auditors"]);
}

#[test]
fn every_key_paths_are_bulwarks_and_the_database_is_set() {
    let imp = kav4proxy(EVERY_KEY).expect("imports");
    let (f, _, notes) = load(EVERY_KEY);
    let doc: toml::Value = toml::from_str(&imp.toml).expect("toml");
    let mut all = Vec::new();
    strings(&doc, &mut all);
    for s in &all {
        let l = s.to_ascii_lowercase();
        assert!(
            !l.contains("kaspersky") && !l.contains("kav4proxy") && s != "/tmp",
            "Kaspersky's path `{s}` kept\n{}",
            imp.toml
        );
    }
    assert!(f.server.get("temp_path").is_none());
    for (key, path) in [
        ("report_file", "/var/log/bulwark/bulwark.log"),
        ("av_stats_file", "/var/log/bulwark/av.stats"),
        ("counter_stats_file", "/var/log/bulwark/counter.stats"),
    ] {
        assert_eq!(f.log[key].as_str(), Some(path), "log.{key}");
    }
    assert_eq!(
        f.control["pid_file"].as_str(),
        Some("/run/bulwark/bulwark.pid")
    );
    assert_eq!(
        f.update["report_file"].as_str(),
        Some("/var/log/bulwark/update.log")
    );
    // Each rewrite is noted with the old path.
    for (key, old) in [
        (
            "icapserver.report.ReportFileName",
            "/var/log/kaspersky/kav4proxy/kavicapserver.log",
        ),
        (
            "icapserver.path.PidFile",
            "/var/run/kav4proxy/kavicapserver.pid",
        ),
        (
            "icapserver.statistics.AVStatisticsAddress",
            "/var/log/kaspersky/kav4proxy/av.stats",
        ),
        (
            "updater.report.ReportFileName",
            "/var/log/kaspersky/kav4proxy/keepup2date.log",
        ),
    ] {
        let n = note_for(&notes, key);
        assert!(n.why.contains(old) && n.why.contains("rewritten"), "{n}");
    }
    // The script in Kaspersky's tree and the templates are written commented out, with
    // Bulwark's paths.
    assert!(f.notify.get("script").is_none(), "{:?}", f.notify);
    assert!(imp
        .toml
        .contains("\n# templates_dir = '/etc/bulwark/templates'"));
    assert!(imp.toml.contains("\n# script = '/usr/local/bin/notify.sh'"));
    // The database: ClamAV's, named beside BasesPath.
    let db: Vec<_> = f.engine["database"]
        .as_array()
        .expect("engine.database")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    assert_eq!(db, vec!["/var/lib/clamav"]);
    assert!(imp
        .toml
        .contains("database = ['/var/lib/clamav']  # kav4proxy: BasesPath (line 13)"));
    assert!(note_for(&notes, "path.BasesPath")
        .why
        .contains("cannot be used"));
}

#[test]
fn every_key_moved_key_and_groups() {
    let (f, p, notes) = load(EVERY_KEY);
    // MaxReqLength under [icapserver.protocol] is converted into the default filter.
    assert_eq!(f.policy.default_group.filter.max_req_length, 5_120_000);
    assert!(note_for(&notes, "icapserver.protocol.MaxReqLength")
        .why
        .contains("belongs in [icapserver.filter]"));
    let other = p.select(ip("10.0.0.1"), None, "http://a.test/");
    assert!(other.is_default());
    let mut big = get("http://a.test/big.iso");
    big.content_length = Some(6_000_000);
    assert_eq!(
        other.filter(&big),
        FilterDecision::Skip(SkipReason::TooLarge)
    );

    // managers: engine, filter, actions over the default's; notify per group is noted.
    let m = p.select(ip("192.168.1.7"), None, "http://a.test/");
    assert_eq!(m.name(), "managers");
    assert!(m.engine().cure && m.engine().scan_archives && !m.engine().scan_mail_bases);
    assert_eq!(m.engine().max_scan_time_secs, 600);
    assert_eq!(m.filter(&big), FilterDecision::Scan);
    assert_eq!(
        m.filter(&get("http://intranet.example.com/x")),
        FilterDecision::Skip(SkipReason::ExcludedUrl)
    );
    assert_eq!(
        m.filter(&get("http://update.example.com/x")),
        FilterDecision::Scan
    );
    assert_eq!(
        (m.action(Status::Suspicious), m.action(Status::Protected)),
        (Action::Skip, Action::Skip)
    );
    assert_eq!(m.action(Status::Infected), Action::Deny);
    for k in [
        "icapserver.notify:managers.NotifyTemplateDir",
        "icapserver.notify:managers.NotifyScript",
        "icapserver.engine.options:managers.MaxNestingLevel",
    ] {
        note_for(&notes, k);
    }

    // auditors: by user name.
    let a = p.select(ip("10.0.0.1"), Some("AUDITOR"), "http://a.test/");
    assert_eq!(a.name(), "auditors");
    assert_eq!(a.action(Status::Warning), Action::Skip);

    // contractors: the Users pattern cannot be converted, so the whole group is refused
    // rather than letting infected objects through for all of 192.168.0.0/16.
    assert!(f.policy.groups.iter().all(|g| g.name != "contractors"));
    let c = p.select(ip("192.168.5.5"), Some("ext-bob"), "http://a.test/");
    assert!(c.is_default());
    assert_eq!(c.action(Status::Infected), Action::Deny);
    assert!(note_for(&notes, "icapserver.groups:contractors")
        .why
        .contains("group not converted"));
    assert!(note_for(&notes, "icapserver.groups:contractors.Users")
        .why
        .contains("not converted, rather than widened"));
    assert!(
        note_for(&notes, "icapserver.actions:contractors.InfectedAction")
            .why
            .contains("refused")
    );
}

#[test]
fn keys_in_the_wrong_section() {
    let text = "[icapserver.protocol]\nMaxReqLength=100\n[icapserver.filter]\nMaxChildren=3\n\
                [icapserver.groups:g]\nClientIP=10.0.0.0/8\n[icapserver.filter:g]\nInfectedAction=skip\n\
                Timeout=4\n[icapserver.statistics]\nReportFileName=/var/log/x.log\n";
    let imp = kav4proxy(text).expect("imports");
    assert_accounted(text, &imp);
    let f: File = toml::from_str(&imp.toml).expect("toml");
    assert_eq!(f.policy.default_group.filter.max_req_length, 100);
    assert_eq!(f.policy.groups[0].actions.infected, Action::Skip);
    assert_eq!(
        f.log["report_file"].as_str(),
        Some("/var/log/bulwark/bulwark.log")
    );
    let why = |k: &str| note_for(&imp.notes, k).why.clone();
    assert!(why("icapserver.filter.MaxChildren").contains("belongs in [icapserver.process]"));
    assert!(why("icapserver.filter:g.InfectedAction").contains("moved there and converted"));
    assert!(why("icapserver.filter:g.Timeout").contains("no per-group form"));
    assert!(f.server.get("read_timeout_secs").is_none());
}

#[test]
fn statistics_addresses_and_users() {
    let text =
        "[icapserver.statistics]\nAVStatisticsAddress=/var/log/kaspersky/kav4proxy/av.stats\n\
                CounterStatisticsAddress=127.0.0.1:9999\n\
                [icapserver.groups:u]\nUsers=alice\nUsers=.*\n\
                [icapserver.groups:v]\nUsers=DOMAIN\\bob\nURL=^www\\.example\\.com/\n";
    let imp = kav4proxy(text).expect("imports");
    assert_accounted(text, &imp);
    let (f, p, _) = load(text);
    assert_eq!(
        f.log["av_stats_file"].as_str(),
        Some("/var/log/bulwark/av.stats")
    );
    assert!(f.log.get("counter_stats_file").is_none());
    assert!(
        note_for(&imp.notes, "icapserver.statistics.CounterStatisticsAddress")
            .why
            .contains("not a file path")
    );
    // `u`: one of its Users values is `.*`, so it takes every user; `v` is refused.
    let names: Vec<_> = p.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, vec!["u"]);
    assert!(f.policy.groups[0].users.is_empty());
    assert!(
        p.select(ip("10.0.0.1"), Some("carol"), "http://a.test/")
            .name()
            == "u"
    );
}

#[test]
fn updater_proxy_follows_use_proxy() {
    let text = "[updater.options]\nProxyAddress=http://p:3128\nUseProxy=no\n";
    let imp = kav4proxy(text).expect("imports");
    assert_accounted(text, &imp);
    assert!(!imp.toml.contains("proxy ="), "{}", imp.toml);
    assert!(note_for(&imp.notes, "updater.options.ProxyAddress")
        .why
        .contains("UseProxy=no"));
    let text = "[updater.options]\nUseProxy=yes\n";
    let imp = kav4proxy(text).expect("imports");
    assert_accounted(text, &imp);
    assert!(note_for(&imp.notes, "updater.options.UseProxy")
        .why
        .contains("update.proxy"));
}
