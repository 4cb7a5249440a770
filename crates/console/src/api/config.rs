//! The configuration: the view (secrets masked), the check, and the edit — checked, written
//! atomically with a backup, reloaded, and put back when the reload refuses it.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tracing::{info, warn};

use crate::configedit::{self, MASK};

use super::model::{diagnostics, ConfigPage, ConfigResult, Diagnostic};
use super::reply::{error, json_response, ok, parse_body};
use super::state::Shared;

/// Largest configuration text accepted.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// `GET /api/config`: the file and the configuration in force, secrets masked.
pub(crate) async fn config_get(State(s): State<Arc<Shared>>) -> Response {
    let effective = toml::to_string(&*s.backend.config())
        .ok()
        .and_then(|t| configedit::mask_text(&t));
    let (file, note) = match &s.config_path {
        None => (
            None,
            Some("the server runs on its embedded defaults (no --config): nothing to edit"),
        ),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => match configedit::mask_text(&t) {
                Some(m) => (Some(m), None),
                None => (None, Some("the file does not parse now; it is not shown")),
            },
            Err(_) => (None, Some("the file cannot be read now")),
        },
    };
    // Under the Debian package the file is root:bulwark 0640 in root's /etc/bulwark: the
    // service cannot write it, and says so instead of failing on save.
    let unwritable = s.config_path.as_deref().and_then(configedit::unwritable);
    let note = match (&unwritable, note) {
        (Some(why), None) => Some(format!(
            "read-only here: {why}; edit the file as root (e.g. `sudoedit`) and reload"
        )),
        (_, n) => n.map(str::to_string),
    };
    ok(&ConfigPage {
        path: s.config_path_text(),
        editable: s.config_path.is_some() && unwritable.is_none(),
        mask: MASK,
        file,
        note,
        effective,
    })
}

/// The body of `POST /api/config` and `/api/config/check`.
#[derive(Deserialize)]
struct ConfigBody {
    toml: String,
}

/// The keys that run commands or name files the service writes, changed between `old` and
/// `new`.
fn command_keys_changed(
    old: &bulwark_config::Config,
    new: &bulwark_config::Config,
) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut cmp = |key: &'static str, same: bool| {
        if !same {
            changed.push(key);
        }
    };
    cmp(
        "update.post_update_cmd",
        old.update.post_update_cmd == new.update.post_update_cmd,
    );
    cmp("notify.script", old.notify.script == new.notify.script);
    cmp(
        "log.report_file",
        old.log.report_file == new.log.report_file,
    );
    cmp(
        "log.av_stats_file",
        old.log.av_stats_file == new.log.av_stats_file,
    );
    cmp(
        "log.counter_stats_file",
        old.log.counter_stats_file == new.log.counter_stats_file,
    );
    cmp(
        "control.pid_file",
        old.control.pid_file == new.control.pid_file,
    );
    cmp("control.socket", old.control.socket == new.control.socket);
    cmp(
        "console.token_file",
        old.console.token_file == new.console.token_file,
    );
    cmp(
        "console.allow_command_edits",
        old.console.allow_command_edits == new.console.allow_command_edits,
    );
    changed
}

/// Unmasks and checks an edited copy: the text to write and its warnings, or the answer.
pub(crate) fn check_text(
    s: &Shared,
    text: &str,
) -> Result<(String, Vec<Diagnostic>), Box<Response>> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "configuration text over 1 MiB",
        )));
    }
    let current = s
        .config_path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let text = configedit::unmask(text, current.as_deref())
        .map_err(|e| Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())))?;
    let origin = s
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<edited>".into());
    let backend = s.backend.clone();
    match bulwark_config::load_str_with(
        &text,
        &origin,
        bulwark_config::Strictness::Strict,
        &|c: &bulwark_config::Config| backend.check_config(c),
    ) {
        Ok(l) => {
            let running = s.backend.config();
            let changed = command_keys_changed(&running, &l.config);
            if !changed.is_empty() && !running.console.allow_command_edits {
                return Err(Box::new(json_response(
                    StatusCode::FORBIDDEN,
                    &ConfigResult::refused(
                        format!(
                            "{} run commands or name files the service writes: the console may \
                             not change them (console.allow_command_edits is off); edit the \
                             file as root",
                            changed.join(", ")
                        ),
                        Vec::new(),
                    ),
                )));
            }
            Ok((text, diagnostics(&l.warnings)))
        }
        Err(bulwark_config::ConfigError::Invalid { errors, .. }) => Err(Box::new(json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ConfigResult::refused(
                "the configuration is invalid; nothing was changed",
                diagnostics(&errors),
            ),
        ))),
        Err(e) => Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        ))),
    }
}

/// `POST /api/config/check`: checks an edited file; writes nothing.
pub(crate) async fn config_check(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b: ConfigBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match check_text(&s, &b.toml) {
        Ok((_, warnings)) => ok(&ConfigResult::checked(warnings)),
        Err(r) => *r,
    }
}

/// `POST /api/config`: checks an edited file, writes it and reloads.
pub(crate) async fn config_apply(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b: ConfigBody = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    apply_text(&s, &b.toml).await
}

/// The file the console edits, or the answer saying why there is none it may write.
pub(crate) fn editable_path(s: &Shared) -> Result<PathBuf, Box<Response>> {
    let Some(path) = s.config_path.clone() else {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            "the server was started without --config: there is no file to write; start it \
             with --config FILE to edit the configuration here",
        )));
    };
    if let Some(why) = configedit::unwritable(&path) {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            format!("the configuration is read-only here: {why}; edit it as root and reload"),
        )));
    }
    Ok(path)
}

/// Checks `toml` as the text editor's and the form editor's edits are checked, then writes it
/// (keeping a backup) and reloads; a refused reload puts the previous file back.
pub(crate) async fn apply_text(s: &Shared, toml: &str) -> Response {
    let path = match editable_path(s) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let _g = s.edit.lock().await;
    let (text, warnings) = match check_text(s, toml) {
        Ok(x) => x,
        Err(r) => {
            warn!(target: "bulwark::console", file = %path.display(), "configuration edit refused: check failed");
            return *r;
        }
    };
    let old = match std::fs::read(&path) {
        Ok(o) => o,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            )
        }
    };
    let backup = configedit::backup_path(&path);
    if let Err(e) = configedit::write_atomic_like(&backup, &old, &path) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the backup {}: {e}", backup.display()),
        );
    }
    if let Err(e) = configedit::write_atomic(&path, text.as_bytes()) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write {}: {e}", path.display()),
        );
    }
    info!(target: "bulwark::console", file = %path.display(), backup = %backup.display(), "configuration written; reloading");
    match s.backend.reload().await {
        Ok(m) => ok(&ConfigResult::applied(
            m,
            warnings,
            backup.display().to_string(),
        )),
        Err(e) => {
            let restored = configedit::write_atomic(&path, &old).is_ok();
            warn!(target: "bulwark::console", file = %path.display(), restored, "configuration edit refused by the reload: {e}");
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ConfigResult::reload_refused(
                    format!(
                        "the reload refused it ({e}); {}; the previous configuration keeps serving",
                        if restored {
                            "the previous file was put back"
                        } else {
                            "the previous file could NOT be put back: see the backup"
                        }
                    ),
                    backup.display().to_string(),
                ),
            )
        }
    }
}
