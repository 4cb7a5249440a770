//! The form editor of the policy (groups, their filters and actions): the console page edits
//! the `[policy]` section as data, and the server writes it back into the configuration file in
//! place of the old section, the rest of the file (comments included) kept, through the same
//! checks, backup and reload as the text editor.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bulwark_config::PolicyConfig;
use serde::{Deserialize, Serialize};
use serde_json::json;
use toml_edit::DocumentMut;

use crate::api::{apply_text, check_text, editable_path, error, ok, parse_body, Shared};

/// Why the form's policy could not be put into the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyFormError {
    /// The file on disk is not TOML (edit it with the text editor first).
    #[error("the configuration file does not parse as TOML: {0}")]
    File(toml_edit::TomlError),
    /// The policy could not be written as TOML.
    #[error("the policy cannot be written as TOML: {0}")]
    Serialize(#[from] toml::ser::Error),
}

#[derive(Serialize)]
struct PolicyOnly<'a> {
    policy: &'a PolicyConfig,
}

/// `current` (a configuration file's text) with its `[policy]` section replaced by `policy`;
/// every other section, and the comments outside `[policy]`, are kept as written.
pub(crate) fn with_policy(current: &str, policy: &PolicyConfig) -> Result<String, PolicyFormError> {
    let mut doc: DocumentMut = current.parse().map_err(PolicyFormError::File)?;
    let text = toml::to_string(&PolicyOnly { policy })?;
    let new: DocumentMut = text.parse().map_err(PolicyFormError::File)?;
    doc.remove("policy");
    if let Some(item) = new.get("policy") {
        doc.insert("policy", item.clone());
    }
    Ok(doc.to_string())
}

/// `GET /api/config/policy`: the policy as the file has it (the running one without a file).
pub(crate) async fn policy_get(State(s): State<Arc<Shared>>) -> Response {
    let running = s.ctx.snapshot.load();
    let (policy, note) = match &s.config_path {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                bulwark_config::load_str(&t, &p.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(l) => (l.config.policy, None),
            Err(e) => (
                running.config.policy.clone(),
                Some(format!(
                    "the file cannot be read as a valid configuration ({e}): showing the running \
                     policy; fix the file with the text editor"
                )),
            ),
        },
        None => (running.config.policy.clone(), None),
    };
    let editable = editable_path(&s).err().map(|r| *r);
    ok(json!({
        "ok": true,
        "editable": editable.is_none(),
        "note": note,
        "policy": policy,
    }))
}

#[derive(Deserialize)]
struct PolicyBody {
    policy: PolicyConfig,
    /// Write and reload (else only check).
    #[serde(default)]
    apply: bool,
}

/// `POST /api/config/policy`: `{policy, apply}` — checks the file as it would be with this
/// policy, and with `apply` writes it and reloads.
pub(crate) async fn policy_post(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b: PolicyBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let path = match editable_path(&s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let current = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            )
        }
    };
    let text = match with_policy(&current, &b.policy) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    if b.apply {
        return apply_text(&s, &text).await;
    }
    match check_text(&s, &text) {
        Ok((_, warnings)) => ok(json!({ "ok": true, "errors": [], "warnings": warnings })),
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Bulwark, edited by hand\n\
        [server]\n\
        # the ICAP port\n\
        listen = [\"127.0.0.1:1344\"]\n\
        \n\
        [policy.default.actions]\n\
        protected = \"skip\"\n\
        \n\
        [[policy.group]]\n\
        name = \"old\"\n\
        \n\
        [log]\n\
        # keep this comment\n\
        level = \"info\"\n";

    #[test]
    fn replaces_the_policy_and_keeps_the_rest() {
        let mut p = PolicyConfig::default();
        let mut g = p.default_group.clone();
        g.name = "managers".into();
        g.priority = 5;
        g.clients = vec!["10.1.0.0/16".into()];
        g.actions.suspicious = bulwark_config::policy::Action::Skip;
        p.groups.push(g);
        let out = with_policy(FILE, &p).expect("written");
        assert!(out.contains("# the ICAP port") && out.contains("# keep this comment"));
        assert!(!out.contains("\"old\""), "{out}");
        let loaded = bulwark_config::load_str(&out, "test").expect("valid");
        assert_eq!(loaded.config.policy, p);
        assert_eq!(loaded.config.server.listen.len(), 1);
        assert_eq!(loaded.config.server.listen[0].to_string(), "127.0.0.1:1344");
    }

    #[test]
    fn a_file_that_is_not_toml_is_refused() {
        let e = with_policy("[server\n", &PolicyConfig::default()).expect_err("refused");
        assert!(matches!(e, PolicyFormError::File(_)));
    }
}
