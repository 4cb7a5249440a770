//! The web console of a real `bulwark serve`: what the binary's console backend reads from the
//! server (ISTag, database, counters moved by ICAP traffic, detections from the AV statistics
//! log), reloads through the controller, an edit the server's reload refuses put back, and
//! HTTPS with the acceptor the binary builds from `console.tls_cert` and `console.tls_key`.
//! The console's API itself is tested over a fake backend in `crates/console/tests`.

mod common;
mod console;

use std::time::Duration;

use bulwark_testkit::icap;
use console::{request_tls, ConsoleServer, PASSWORD};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

fn istag(s: &ConsoleServer) -> String {
    let head = icap::options(s.bulwark.addr(), "av/respmod", T).expect("OPTIONS");
    head.header("ISTag").expect("ISTag").to_string()
}

#[test]
fn the_console_shows_the_running_server_and_reloads_it() {
    let s = ConsoleServer::start("");
    let st = s.api("GET", "/api/status", None);
    assert_eq!(st.status, 200, "{}", st.text());
    let st = st.json();
    assert_eq!(st["istag"], json!(istag(&s)));
    assert!(!st["database"]["version"].as_str().unwrap_or("").is_empty());
    assert!(st["database"]["loaded_at"].as_i64().unwrap_or(0) > 0);
    assert_eq!(st["license"]["state"], json!("not required"));
    assert_eq!(st["update_available"], json!(false));
    assert_eq!(
        st["config_path"],
        json!(s.config_path().display().to_string())
    );
    let n0 = s.api("GET", "/api/stats", None).json()["now"]["requests_total"]
        .as_u64()
        .expect("requests_total");
    for i in 0..3 {
        let url = format!("http://example.test/clean-{i}");
        let a = icap::respmod(s.bulwark.addr(), &url, &[], b"hello", T).expect("respmod");
        assert_eq!(a.http_status, Some(200), "clean, passed on: {a:?}");
    }
    let eicar = bulwark_testkit::eicar();
    let a = icap::respmod(
        s.bulwark.addr(),
        "http://example.test/e.com",
        &[],
        &eicar,
        T,
    )
    .expect("respmod");
    assert_eq!(a.http_status, Some(403), "blocked");
    std::thread::sleep(Duration::from_millis(2500));
    let stats = s.api("GET", "/api/stats", None).json();
    assert_eq!(
        stats["now"]["requests_total"].as_u64(),
        Some(n0 + 4),
        "{stats}"
    );
    assert_eq!(stats["now"]["objects"]["infected"], json!(1));
    assert_eq!(stats["now"]["objects"]["clean"], json!(3));
    assert_eq!(stats["hour"]["count"], json!(4), "{stats}");
    assert!(stats["hour"]["p50_ms"].as_f64().is_some());
    let counted: u64 = stats["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|p| p["requests"].as_u64())
        .sum();
    assert!(counted >= 1, "{stats}");
    let st = s.api("GET", "/api/status", None).json();
    assert_eq!(st["objects_total"], json!(4));
    assert_eq!(st["objects_infected"], json!(1));
    let d = s.api("GET", "/api/detections", None).json();
    let items = d["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{d}");
    assert_eq!(items[0]["url"], json!("http://example.test/e.com"));
    assert!(items[0]["threat"].as_str().unwrap_or("").contains("Eicar"));
    let r = s.api("POST", "/api/reload", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .contains("reloaded"));
    let r = s.api("POST", "/api/reload-db", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .contains("database reloaded"));
    let r = s.api("POST", "/api/database/update", None);
    assert_eq!(r.status, 501, "no [update] source: {}", r.text());
}

#[test]
fn an_edit_the_server_refuses_is_put_back_and_a_good_one_applies() {
    let s = ConsoleServer::start("");
    let path = s.config_path();
    let before = std::fs::read_to_string(&path).expect("config");
    let tag = istag(&s);
    // Checks, but the server cannot open the database (a directory with no signature file).
    let empty_db = s.dir.path().join("empty-db");
    std::fs::create_dir(&empty_db).expect("mkdir");
    let shown = s.api("GET", "/api/config", None).json()["file"]
        .as_str()
        .expect("file")
        .to_string();
    let unopenable = format!(
        "{shown}\n[engine]\ndatabase = [\"{}\"]\n",
        empty_db.display()
    );
    let r = s.api("POST", "/api/config", Some(&json!({ "toml": unopenable })));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap_or("")
        .contains("put back"));
    assert_eq!(std::fs::read_to_string(&path).expect("config"), before);
    assert_eq!(istag(&s), tag, "the previous configuration keeps serving");
    // A good edit is written and reloaded.
    let good = format!("{shown}\n[answer]\nholdback_bytes = 8192\n");
    let r = s.api("POST", "/api/config", Some(&json!({ "toml": good })));
    assert_eq!(r.status, 200, "{}", r.text());
    let effective = s.api("GET", "/api/config", None).json()["effective"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(effective.contains("holdback_bytes = 8192"), "{effective}");
    let now = std::fs::read_to_string(&path).expect("config");
    assert!(now.contains("argon2id"), "the masked hash was put back");
}

#[test]
fn the_console_speaks_https_with_the_certificate_of_its_section() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = bulwark_testkit::pki::Ca::new("console test CA");
    let (leaf_pem, key_pem) = ca.leaf(&["localhost"]);
    let (ca_file, cert, key_file) = (
        pki.path().join("ca.pem"),
        pki.path().join("console.pem"),
        pki.path().join("console.key"),
    );
    std::fs::write(&ca_file, &ca.pem).expect("write");
    std::fs::write(&cert, leaf_pem).expect("write");
    std::fs::write(&key_file, key_pem).expect("write");
    let s = ConsoleServer::start(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key_file.display()
    ));
    let to = (s.base, "localhost");
    let r = request_tls(to, &ca_file, "GET", "/api/session", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["authenticated"], json!(false));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let body = json!({ "password": PASSWORD }).to_string();
    let json = [("Content-Type", "application/json")];
    let r = request_tls(to, &ca_file, "POST", "/api/login", &json, Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        s.bulwark
            .log()
            .contains(&format!("console on https://{}/", s.base)),
        "{}",
        s.bulwark.log()
    );
}

#[test]
fn a_certificate_without_its_key_leaves_the_console_off_and_says_why() {
    let s = ConsoleServer::start_unchecked("tls_cert = \"/nonexistent/console.pem\"\n");
    let log = wait_for_log(&s, "go together");
    assert!(
        log.contains("web console: console: console.tls_cert and console.tls_key go together"),
        "{log}"
    );
    // The ICAP service runs on.
    assert!(!istag(&s).is_empty());
}

/// The server's log once it contains `what` (or after 10 s).
fn wait_for_log(s: &ConsoleServer, what: &str) -> String {
    let deadline = std::time::Instant::now() + T;
    loop {
        let log = s.bulwark.log();
        if log.contains(what) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
