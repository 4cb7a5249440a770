//! Import tests: both worked examples convert, load, and decide as kav4proxy would.

use std::net::IpAddr;

use bulwark_engine::Status;
use serde::Deserialize;

use super::*;
use crate::{Action, FilterDecision, ObjectInfo, Policy, PolicyConfig, SkipReason, Template};

const COMMON: &str = include_str!("../../tests/data/kav4proxy-common.conf");
const GROUPS: &str = include_str!("../../tests/data/kav4proxy-groups.conf");

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
    assert_eq!(f.server["temp_path"].as_str(), Some("/tmp"));
    assert_eq!(f.server["max_connections"].as_integer(), Some(5000));
    assert_eq!(f.server["preview_bytes"].as_integer(), Some(1024));
    assert_eq!(f.server["read_timeout_secs"].as_integer(), Some(5));
    assert_eq!(f.server["respmod_paths"][0].as_str(), Some("/av/respmod"));
    assert_eq!(f.answer["mode"].as_str(), Some("partial"));
    assert_eq!(f.answer["max_send_delay_ms"].as_integer(), Some(10_000));
    assert_eq!(f.identity["client_ip_header"].as_str(), Some("X-Client-IP"));
    assert_eq!(f.log["level"].as_str(), Some("info"));
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
        "options.User",
        "icapserver.process.MaxChildren",
        "icapserver.protocol.Allow204",
    ] {
        assert!(keys.contains(&k), "{k} not in {keys:?}");
    }
    assert!(notes.iter().all(|n| n.line > 0));
    assert_eq!(f.policy.templates_dir, None);
    let imp = kav4proxy(COMMON).expect("imports");
    assert!(imp
        .toml
        .contains("\n# templates_dir = '/opt/kaspersky/kav4proxy/share/notify'\n"));
}

#[test]
fn groups_example() {
    let (f, p, notes) = load(GROUPS);
    assert_eq!(f.server["listen"][0].as_str(), Some("192.168.0.1:1344"));
    assert_eq!(f.answer["mode"].as_str(), Some("complete"));
    let names: Vec<_> = p.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, vec!["sales", "managers"]);
    assert!(notes.is_empty(), "{notes:?}");

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
    assert_eq!(
        manager.engine().signature_sets,
        vec!["extended".to_string()]
    );
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
            "icapserver.groups:odd.ClientIP",
            "icapserver.actions:ghost.InfectedAction",
            "icapserver.groups:odd"
        ]
    );
    assert_eq!(imp.notes[2].line, 1);
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
