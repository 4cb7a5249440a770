//! The answers' types against `docs/console-openapi.yaml`: an example of every answer of every
//! endpoint is serialised and checked against the response schema the document gives for it —
//! every key documented, every required key present, every value of the documented JSON type
//! (through `$ref`, `allOf`, `nullable`, arrays and maps) — and every documented property must
//! appear in some example. A field renamed or dropped in a type, or in the document, fails.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::model::*;
use crate::detections::parse_av_stats_line;
use crate::sampler::{Percentiles, Point};

/// The OpenAPI document as JSON.
fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/console-openapi.yaml"
    );
    let text = std::fs::read_to_string(path).expect("docs/console-openapi.yaml");
    serde_norway::from_str(&text).expect("the OpenAPI document is YAML")
}

/// Walks schemas and values, noting mismatches and the properties seen.
struct Checker<'a> {
    doc: &'a Value,
    errors: Vec<String>,
    /// Every (schema, property) an object schema documents.
    documented: BTreeSet<(String, String)>,
    /// Every (schema, property) an example had.
    seen: BTreeSet<(String, String)>,
}

impl<'a> Checker<'a> {
    /// The schema `$ref` points at, with its name as the schema's identity.
    fn deref(&self, schema: &'a Value, id: &str) -> (&'a Value, String) {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                let target = &self.doc["components"]["schemas"][name];
                assert!(!target.is_null(), "dangling $ref {r}");
                (target, name.to_string())
            }
            None => (schema, id.to_string()),
        }
    }

    /// The parts of a schema: itself, or each of its `allOf` (resolved).
    fn parts(&self, schema: &'a Value, id: &str) -> Vec<(&'a Value, String)> {
        let (schema, id) = self.deref(schema, id);
        match schema.get("allOf").and_then(Value::as_array) {
            Some(all) => all
                .iter()
                .enumerate()
                .flat_map(|(i, s)| self.parts(s, &format!("{id}.allOf{i}")))
                .collect(),
            None => vec![(schema, id)],
        }
    }

    fn check(&mut self, schema: &'a Value, v: &Value, at: &str, id: &str) {
        let (outer, _) = self.deref(schema, id);
        if v.is_null() {
            if outer.get("nullable") != Some(&Value::Bool(true)) {
                self.errors
                    .push(format!("{at}: null where the schema is not nullable"));
            }
            return;
        }
        let parts = self.parts(schema, id);
        for (p, _) in &parts {
            if let Some(values) = p.get("enum").and_then(Value::as_array) {
                if !values.contains(v) {
                    self.errors.push(format!("{at}: {v} not in {values:?}"));
                }
            }
            if let Some(t) = p.get("type").and_then(Value::as_str) {
                let good = match t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "integer" => v.is_i64() || v.is_u64(),
                    "number" => v.is_number(),
                    "boolean" => v.is_boolean(),
                    other => panic!("{at}: unknown type {other}"),
                };
                if !good {
                    self.errors.push(format!("{at}: {v} is not of type {t}"));
                }
            }
        }
        if let Some(items) = v.as_array() {
            for (i, item) in items.iter().enumerate() {
                for (p, pid) in &parts {
                    if let Some(s) = p.get("items") {
                        self.check(s, item, &format!("{at}[{i}]"), &format!("{pid}[]"));
                    }
                }
            }
        }
        let Some(obj) = v.as_object() else {
            return;
        };
        let mut props: BTreeMap<&str, (&'a Value, String)> = BTreeMap::new();
        let mut free = false;
        for (p, pid) in &parts {
            for key in p["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or("");
                if !obj.contains_key(key) {
                    self.errors.push(format!("{at}: required `{key}` missing"));
                }
            }
            if let Some(ps) = p.get("properties").and_then(Value::as_object) {
                for (k, s) in ps {
                    self.documented.insert((pid.clone(), k.clone()));
                    props.insert(k, (s, pid.clone()));
                }
            }
            if let Some(extra) = p.get("additionalProperties") {
                for (k, x) in obj {
                    self.check(extra, x, &format!("{at}.{k}"), &format!("{pid}.*"));
                }
                free = true;
            }
            if p.get("properties").is_none() && p.get("additionalProperties").is_none() {
                // `{type: object}` alone documents no fields (the policy, as in the TOML).
                free |= p.get("type").and_then(Value::as_str) == Some("object");
            }
        }
        for (k, x) in obj {
            match props.get(k.as_str()) {
                Some((s, pid)) => {
                    self.seen.insert((pid.clone(), k.clone()));
                    let (s, pid) = (*s, format!("{pid}.{k}"));
                    self.check(s, x, &format!("{at}.{k}"), &pid);
                }
                None if free => {}
                None => self.errors.push(format!("{at}: `{k}` is not documented")),
            }
        }
    }
}

/// `{method} {path}` answers `status` with `example`: checked against the document.
fn expect(c: &mut Checker<'_>, method: &str, path: &str, status: &str, example: &impl Serialize) {
    let doc = c.doc;
    let mut response = &doc["paths"][path][method]["responses"][status];
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        response = &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")];
    }
    let schema = &response["content"]["application/json"]["schema"];
    let at = format!("{} {path} {status}", method.to_uppercase());
    assert!(!schema.is_null(), "{at}: no JSON schema in the document");
    let v = serde_json::to_value(example).expect("serialisable");
    c.check(schema, &v, &at, &at);
}

fn report() -> UpdateReport {
    UpdateReport {
        at: 1_700_000_000,
        secs: 1.5,
        ok: true,
        message: "daily.cvd updated".into(),
    }
}

fn database() -> DatabaseInfo {
    DatabaseInfo {
        version: "daily 27000".into(),
        loaded_at: 1_700_000_000,
        age_secs: 60,
    }
}

fn licence(required: bool) -> LicenseInfo {
    LicenseInfo {
        required,
        state: if required { "valid" } else { "not required" }.into(),
        allows_scanning: true,
        expiring_in_days: required.then_some(12),
    }
}

fn diagnostic() -> Diagnostic {
    Diagnostic {
        line: Some(3),
        key: Some("server.max_connections".into()),
        message: "expected an integer".into(),
        text: "line 3: server.max_connections: expected an integer".into(),
    }
}

fn config_results(c: &mut Checker<'_>, path: &str) {
    let applied = ConfigResult::applied("reloaded".into(), vec![diagnostic()], "f.bak".into());
    let refused = ConfigResult::reload_refused("the reload refused it".into(), "f.bak".into());
    expect(
        c,
        "post",
        path,
        "200",
        &ConfigResult::checked(vec![diagnostic()]),
    );
    expect(c, "post", path, "200", &applied);
    let invalid = ConfigResult::refused("invalid", vec![diagnostic()]);
    expect(c, "post", path, "422", &invalid);
    expect(c, "post", path, "422", &refused);
    expect(
        c,
        "post",
        path,
        "403",
        &ConfigResult::refused("notify.script", vec![]),
    );
    expect(
        c,
        "post",
        path,
        "403",
        &ErrorBody::new("CSRF token missing"),
    );
}

#[test]
fn every_answer_matches_the_openapi_document() {
    let doc = document();
    let mut c = Checker {
        doc: &doc,
        errors: Vec::new(),
        documented: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    let methods = || LoginMethods {
        password: true,
        token: false,
    };
    let c = &mut c;
    expect(
        c,
        "get",
        "/api/session",
        "200",
        &SessionState {
            authenticated: true,
            csrf: Some("abc".into()),
            login: methods(),
        },
    );
    expect(
        c,
        "get",
        "/api/session",
        "200",
        &SessionState {
            authenticated: false,
            csrf: None,
            login: methods(),
        },
    );
    expect(
        c,
        "post",
        "/api/login",
        "200",
        &LoggedIn {
            ok: true,
            csrf: "abc".into(),
            expires_in_secs: 3600,
        },
    );
    for status in ["400", "401", "403", "415", "429"] {
        expect(c, "post", "/api/login", status, &ErrorBody::new("no"));
    }
    expect(c, "post", "/api/logout", "200", &Done { ok: true });
    expect(
        c,
        "get",
        "/api/status",
        "401",
        &ErrorBody::new("log in first"),
    );
    for required in [false, true] {
        expect(
            c,
            "get",
            "/api/status",
            "200",
            &Status {
                version: "0.1.0",
                uptime_secs: 5,
                istag: "\"BW-1\"".into(),
                connections_open: 1,
                connections_total: 9,
                in_flight: 0,
                objects_total: 7,
                objects_infected: 1,
                database: database(),
                license: licence(required),
                config_path: required.then(|| "/etc/bulwark/bulwark.toml".into()),
                update_available: required,
            },
        );
    }
    let counts: BTreeMap<String, u64> = [("respmod".to_string(), 3)].into();
    expect(
        c,
        "get",
        "/api/stats",
        "200",
        &StatsPage {
            interval_secs: 5,
            now: CountersNow {
                t: 1_700_000_000,
                requests: counts.clone(),
                requests_total: 3,
                objects: [("clean".to_string(), 3)].into(),
                bytes: 100,
                connections: 2,
                connections_open: 1,
                in_flight: 0,
            },
            hour: Percentiles {
                count: 3,
                p50_ms: Some(1.5),
                p95_ms: None,
                p99_ms: Some(2.0),
            },
            series: vec![Point {
                t: 1_700_000_000,
                secs: 5,
                requests: 3,
                objects: counts,
                bytes: 100,
                p50_ms: Some(1.0),
                p95_ms: Some(2.0),
                p99_ms: None,
            }],
        },
    );
    let line = parse_av_stats_line(
        "07-03-2025 10:11:12 68 INFECTED Eicar RESPMOD default - 10.0.0.1 http://x/e 3ms blocked",
    )
    .expect("line");
    let clean = parse_av_stats_line("07-03-2025 10:11:12 1 CLEAN REQMOD default - - http://x/ 0ms")
        .expect("line");
    expect(
        c,
        "get",
        "/api/detections",
        "200",
        &Detections {
            enabled: true,
            note: None,
            items: vec![line, clean],
        },
    );
    expect(
        c,
        "get",
        "/api/detections",
        "200",
        &Detections {
            enabled: false,
            note: Some("log.av_stats_file is not set"),
            items: vec![],
        },
    );
    expect(
        c,
        "get",
        "/api/detections",
        "400",
        &ErrorBody::new("YYYY-MM-DD"),
    );
    for last in [Some(report()), None] {
        expect(
            c,
            "get",
            "/api/database",
            "200",
            &DatabasePage {
                database: database(),
                update: UpdateState {
                    available: true,
                    running: false,
                    last,
                },
            },
        );
    }
    let path = "/api/database/update";
    expect(
        c,
        "post",
        path,
        "200",
        &UpdateDone {
            ok: true,
            message: "updated".into(),
            report: report(),
        },
    );
    expect(
        c,
        "post",
        path,
        "502",
        &UpdateFailed {
            ok: false,
            error: "mirror unreachable".into(),
            report: report(),
        },
    );
    for status in ["409", "501"] {
        expect(c, "post", path, status, &ErrorBody::new("no"));
    }
    for path in ["/api/reload", "/api/reload-db"] {
        expect(
            c,
            "post",
            path,
            "200",
            &Message {
                ok: true,
                message: "reloaded".into(),
            },
        );
        expect(c, "post", path, "500", &ErrorBody::new("refused"));
    }
    expect(
        c,
        "get",
        "/api/license",
        "200",
        &LicensePage {
            license: licence(true),
            config: Some("required = true\n".into()),
        },
    );
    expect(
        c,
        "get",
        "/api/config",
        "200",
        &ConfigPage {
            path: Some("/etc/bulwark/bulwark.toml".into()),
            editable: true,
            mask: crate::configedit::MASK,
            file: Some("[server]\n".into()),
            note: None,
            effective: Some("[server]\n".into()),
        },
    );
    config_results(c, "/api/config");
    config_results(c, "/api/config/check");
    config_results(c, "/api/config/policy");
    for status in ["409", "413"] {
        expect(c, "post", "/api/config", status, &ErrorBody::new("no"));
    }
    expect(
        c,
        "get",
        "/api/config/policy",
        "200",
        &PolicyPage {
            ok: true,
            editable: false,
            note: Some("the file cannot be read".into()),
            policy: bulwark_config::PolicyConfig::default(),
        },
    );
    assert!(c.errors.is_empty(), "{:#?}", c.errors);
    let never: Vec<_> = c.documented.difference(&c.seen).collect();
    assert!(never.is_empty(), "documented but in no answer: {never:#?}");
}

#[test]
fn the_checker_catches_a_renamed_or_dropped_field() {
    let doc = document();
    let mut c = Checker {
        doc: &doc,
        errors: Vec::new(),
        documented: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    let mut renamed = serde_json::to_value(Message {
        ok: true,
        message: "m".into(),
    })
    .expect("value");
    let m = renamed.as_object_mut().expect("object");
    let v = m.remove("message").expect("message");
    m.insert("msg".into(), v);
    expect(&mut c, "post", "/api/reload", "200", &renamed);
    assert!(
        c.errors
            .iter()
            .any(|e| e.contains("`msg` is not documented")),
        "{:?}",
        c.errors
    );
    assert!(
        c.errors
            .iter()
            .any(|e| e.contains("required `message` missing")),
        "{:?}",
        c.errors
    );
    c.errors.clear();
    expect(
        &mut c,
        "get",
        "/api/status",
        "200",
        &serde_json::json!({ "version": 1 }),
    );
    assert!(c.errors.iter().any(|e| e.contains("not of type string")));
}
