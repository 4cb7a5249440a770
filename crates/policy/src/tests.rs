//! Policy-level tests: group selection and decisions as pure functions.

use std::net::IpAddr;

use bulwark_config::policy::{Action, GroupConfig};
use bulwark_engine::Status;

use super::*;

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("test address"))
}

fn group(name: &str, priority: i32, f: impl FnOnce(&mut GroupConfig)) -> GroupConfig {
    let mut g = GroupConfig {
        name: name.into(),
        priority,
        ..GroupConfig::default()
    };
    f(&mut g);
    g
}

fn sample() -> PolicyConfig {
    PolicyConfig {
        groups: vec![
            group("sales", 5, |g| {
                g.clients = vec!["192.168.2.0/255.255.255.0".into(), "2001:db8:2::/48".into()];
                g.actions.suspicious = Action::Skip;
            }),
            group("managers", 5, |g| {
                g.clients = vec!["192.168.1.0/24".into()];
                g.actions.infected = Action::Cure;
            }),
            group("updates", 10, |g| {
                g.urls = vec![r"^https?://update\.vendor\.test/".into()];
                g.actions.error = Action::Skip;
            }),
            group("bob", 1, |g| g.users = vec!["Bob".into()]),
        ],
        ..PolicyConfig::default()
    }
}

#[test]
fn selection_order_is_priority_then_name() {
    let p = Policy::compile(&sample()).expect("compiles");
    let names: Vec<_> = p.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, vec!["updates", "managers", "sales", "bob"]);
    assert_eq!(p.default_group().name(), "default");
}

/// client, user, URL, status → expected group and action.
type Case<'a> = (
    Option<IpAddr>,
    Option<&'a str>,
    &'a str,
    Status,
    &'a str,
    Action,
);

#[test]
fn client_url_user_status_to_action() {
    let p = Policy::compile(&sample()).expect("compiles");
    let cases: &[Case] = &[
        (
            ip("192.168.1.9"),
            None,
            "http://a.test/",
            Status::Infected,
            "managers",
            Action::Cure,
        ),
        (
            ip("192.168.1.9"),
            None,
            "http://a.test/",
            Status::Suspicious,
            "managers",
            Action::Deny,
        ),
        (
            ip("192.168.2.9"),
            None,
            "http://a.test/",
            Status::Suspicious,
            "sales",
            Action::Skip,
        ),
        (
            ip("192.168.2.9"),
            None,
            "http://a.test/",
            Status::Infected,
            "sales",
            Action::Deny,
        ),
        (
            ip("::ffff:192.168.2.3"),
            None,
            "http://a.test/",
            Status::Suspicious,
            "sales",
            Action::Skip,
        ),
        (
            ip("2001:db8:2::7"),
            None,
            "http://a.test/",
            Status::Suspicious,
            "sales",
            Action::Skip,
        ),
        (
            ip("2001:db8:3::7"),
            None,
            "http://a.test/",
            Status::Suspicious,
            "default",
            Action::Deny,
        ),
        (
            ip("192.168.1.9"),
            None,
            "http://update.vendor.test/x",
            Status::Error,
            "updates",
            Action::Skip,
        ),
        (
            ip("10.0.0.1"),
            None,
            "http://update.vendor.test.evil/x",
            Status::Error,
            "default",
            Action::Deny,
        ),
        (
            ip("10.0.0.1"),
            Some("bob"),
            "http://a.test/",
            Status::Clean,
            "bob",
            Action::Skip,
        ),
        (
            None,
            Some("alice"),
            "http://a.test/",
            Status::Error,
            "default",
            Action::Deny,
        ),
        (
            None,
            None,
            "http://a.test/",
            Status::TooLarge,
            "default",
            Action::Skip,
        ),
    ];
    for (client, user, url, status, group, action) in cases {
        let g = p.select(*client, *user, url);
        assert_eq!(
            (g.name(), g.action(*status)),
            (*group, *action),
            "{client:?} {user:?} {url} {status}"
        );
    }
}

#[test]
fn compile_reports_every_error_with_its_key() {
    let mut c = sample();
    c.groups[0].clients.push("192.168.300.0/24".into());
    c.groups[1].urls.push("(unclosed".into());
    c.groups[2].name = "managers".into();
    c.groups[3].actions.error = Action::Cure;
    c.groups.push(group("", 0, |_| {}));
    let errors = Policy::compile(&c).expect_err("invalid");
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "policy.group.0.clients",
            "policy.group.1.urls",
            "policy.group.2.name",
            "policy.group.3.actions.error",
            "policy.group.4.name",
        ]
    );
}

#[test]
fn cache_safety_flags_only_client_or_user_groups_that_differ() {
    let mut c = sample();
    c.groups
        .push(group("same", 0, |g| g.clients = vec!["10.0.0.0/8".into()]));
    let w = cache_safety_warnings(&c);
    let keys: Vec<_> = w.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["policy.group.0.clients", "policy.group.1.clients"]
    );
    assert!(w[0].to_string().contains("respmod_precache"));
    assert!(w[0].to_string().contains("mark_uncacheable"));
    assert!(cache_safety_warnings(&PolicyConfig::default()).is_empty());
    // A group that marks what it lets through uncacheable is safe.
    c.groups[0].mark_uncacheable = true;
    let keys: Vec<_> = cache_safety_warnings(&c)
        .iter()
        .map(|w| w.key.clone())
        .collect();
    assert_eq!(keys, vec!["policy.group.1.clients"]);
}

#[test]
fn config_round_trips_through_toml() {
    let c = sample();
    let text = toml::to_string(&c).expect("serialises");
    let back: PolicyConfig = toml::from_str(&text).expect("parses");
    assert_eq!(back, c);
    let d: PolicyConfig = toml::from_str("").expect("parses");
    assert_eq!(d, PolicyConfig::default());
}

#[test]
fn template_directory_overrides_builtins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("de")).expect("mkdir");
    std::fs::create_dir(dir.path().join("it")).expect("mkdir");
    std::fs::write(dir.path().join("object_infected.html"), "ANY %URL%").expect("write");
    std::fs::write(dir.path().join("de/object_infected.html"), "DE %URL%").expect("write");
    std::fs::write(dir.path().join("it/object_error.html"), "IT %VERDICT%").expect("write");
    let c = PolicyConfig {
        templates_dir: Some(dir.path().to_path_buf()),
        ..PolicyConfig::default()
    };
    let p = Policy::compile(&c).expect("compiles");
    let v = PageValues {
        url: "<u>",
        ..PageValues::default()
    };
    let r = p.render_block_page(Status::Infected, &v, Some("de-AT"));
    assert_eq!((r.html.as_str(), r.lang.as_str()), ("DE &lt;u&gt;", "de"));
    let r = p.render_block_page(Status::Infected, &v, Some("fr"));
    assert_eq!(r.html, "ANY &lt;u&gt;");
    let r = p.render_block_page(Status::Error, &v, Some("it, de;q=0.5"));
    assert_eq!((r.html.as_str(), r.lang.as_str()), ("IT ERROR", "it"));
    let r = p.render_block_page(Status::Corrupted, &v, Some("it"));
    assert_eq!(r.lang, "en");
    assert!(r.html.contains("Corrupted object"));
    let r = p.render_block_page(Template::ObjectTooLarge, &v, Some("fr"));
    assert!(r.html.contains("trop volumineux"));

    let missing = PolicyConfig {
        templates_dir: Some(dir.path().join("nope")),
        ..PolicyConfig::default()
    };
    let e = Policy::compile(&missing).expect_err("missing dir");
    assert_eq!(e[0].key, "policy.templates_dir");
}
