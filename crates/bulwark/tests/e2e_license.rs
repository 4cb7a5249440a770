//! Licence enforcement end to end: with `[license] required = true` and no key, every object
//! gets LicenseErrorAction through a real Squid; once a key is added and the server re-reads
//! its keys (SIGUSR1 through `bulwark ctl reload-db`), objects are scanned and delivered.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bulwark_bin, Stack};

fn bulwark(args: &[&str], dir: &Path) -> String {
    let out = Command::new(bulwark_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bulwark");
    assert!(
        out.status.success(),
        "bulwark {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_a_key_objects_get_the_license_error_page_and_a_key_restores_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let lic = d.join("license");
    std::fs::create_dir_all(&lic).expect("licence dir");
    bulwark(&["license", "keygen", "--out", "issuer"], d);
    let config = format!(
        r#"
[license]
required = true
dir = "{lic}"
trusted_keys = ["{d}/issuer.pub"]
[control]
socket = "{d}/control.sock"
pid_file = "{d}/bulwark.pid"
"#,
        lic = lic.display(),
        d = d.display()
    );
    let stack = Stack::start_with_config(Some(&config));
    let r = stack.get("/bytes/1000");
    assert_eq!(
        r.status,
        403,
        "no licence: blocked ({})",
        common::describe(&r)
    );
    assert!(
        r.body_text().contains("LICENSE_ERROR") || r.body_text().to_lowercase().contains("licen"),
        "{}",
        r.body_text()
    );

    bulwark(
        &[
            "license",
            "issue",
            "--issuer-key",
            "issuer",
            "--out",
            "key.lic",
            "--days",
            "30",
        ],
        d,
    );
    let conf_path = d.join("bulwark.toml");
    std::fs::write(&conf_path, &config).expect("write config");
    bulwark(
        &[
            "license",
            "add",
            "key.lic",
            "--config",
            conf_path.to_str().expect("utf-8 path"),
        ],
        d,
    );
    let out = bulwark(
        &[
            "ctl",
            "reload-db",
            "--socket",
            d.join("control.sock").to_str().expect("path"),
        ],
        d,
    );
    assert!(out.contains("reloaded"), "{out}");
    let r = stack.get("/bytes/1000");
    assert_eq!(
        r.status,
        200,
        "licensed: delivered ({})",
        common::describe(&r)
    );
    assert_eq!(r.body, bulwark_testkit::pattern(1000));
    let r = stack.get("/eicar");
    assert_eq!(r.status, 403);
    let status = bulwark(
        &[
            "ctl",
            "status",
            "--socket",
            d.join("control.sock").to_str().expect("path"),
        ],
        d,
    );
    assert!(status.contains("license valid"), "{status}");
}
