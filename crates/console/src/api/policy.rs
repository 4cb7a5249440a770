//! The policy form: `[policy]` as data for the form editor, and its edits written into the
//! file (see `crate::policyform`) through the same checks, backup and reload as the text
//! editor.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bulwark_config::PolicyConfig;
use serde::Deserialize;

use crate::policyform::with_policy;

use super::config::{apply_text, check_text, editable_path};
use super::model::{ConfigResult, PolicyPage};
use super::reply::{error, ok, parse_body};
use super::state::Shared;

/// `GET /api/config/policy`: the policy as the file has it (the running one without a file).
pub(crate) async fn policy_get(State(s): State<Arc<Shared>>) -> Response {
    let running = s.backend.config();
    let (policy, note) = match &s.config_path {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                bulwark_config::load_str(&t, &p.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(l) => (l.config.policy, None),
            Err(e) => (
                running.policy.clone(),
                Some(format!(
                    "the file cannot be read as a valid configuration ({e}): showing the running \
                     policy; fix the file with the text editor"
                )),
            ),
        },
        None => (running.policy.clone(), None),
    };
    ok(&PolicyPage {
        ok: true,
        editable: editable_path(&s).is_ok(),
        note,
        policy,
    })
}

/// `POST /api/config/policy`'s body.
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
        Ok((_, warnings)) => ok(&ConfigResult::checked(warnings)),
        Err(r) => *r,
    }
}
