//! The policy's part of `bulwark config check`: what compiling finds ([`check_config`])
//! reaches the loader and is placed on the line of its key, beside the plain-data checks.

use bulwark_config::{load_str_with, Config, ConfigError, Loaded, Strictness};
use bulwark_policy::{check_config, import};

fn load(text: &str) -> Result<Loaded, ConfigError> {
    load_str_with(text, "f", Strictness::Strict, &|c: &Config| {
        check_config(&c.policy)
    })
}

#[test]
fn policy_errors_and_cache_warnings_have_lines() {
    let text = "[policy.default]\nurls = []\n\n[[policy.group]]\nname = \"a\"\n\n[[policy.group]]\nname = \"b\"\nclients = [\"10.0.0.0/33\"]\n";
    let e = load(text).unwrap_err();
    let ConfigError::Invalid { errors, .. } = e else {
        panic!("not invalid")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(9));
    assert_eq!(errors[0].key.as_deref(), Some("policy.group.1.clients"));
    let text = "[[policy.group]]\nname = \"lax\"\nclients = [\"10.0.0.0/8\"]\n[policy.group.actions]\nerror = \"skip\"\n";
    let l = load(text).expect("loads");
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(l.warnings[0].line, Some(3));
}

#[test]
fn imported_kav4proxy_examples_load() {
    for text in [
        include_str!("data/kav4proxy-common.conf"),
        include_str!("data/kav4proxy-groups.conf"),
    ] {
        let imp = import::kav4proxy(text).expect("imports");
        let l = load(&imp.toml).unwrap_or_else(|e| panic!("{e}\n{}", imp.toml));
        let unknown: Vec<_> = l
            .warnings
            .iter()
            .filter(|w| w.message.contains("unknown key"))
            .collect();
        assert!(unknown.is_empty(), "{unknown:?}\n{}", imp.toml);
    }
}
