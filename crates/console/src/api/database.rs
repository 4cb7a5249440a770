//! The database and the server's reloads: the database page, "update now" (one at a time,
//! its outcome kept for the page), and the configuration and database reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tracing::{info, warn};

use crate::backend::BackendError;
use crate::sampler;

use super::model::{DatabasePage, Message, UpdateDone, UpdateFailed, UpdateReport, UpdateState};
use super::reply::{error, json_response, ok};
use super::state::Shared;
use super::status::database_info;

/// `GET /api/database`: the database in use and the last update started here.
pub(crate) async fn database(State(s): State<Arc<Shared>>) -> Response {
    let now = s.sample_now();
    let last = s.last_update.lock().ok().and_then(|g| g.clone());
    ok(&DatabasePage {
        database: database_info(&s.backend.status(), &now),
        update: UpdateState {
            available: s.backend.update_available(),
            running: s.updating.load(Ordering::SeqCst),
            last,
        },
    })
}

/// Clears the "update running" flag however the update ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// `POST /api/database/update`: runs an update (`501` without an updater, `409` while one
/// runs, `502` when it fails).
pub(crate) async fn update(State(s): State<Arc<Shared>>) -> Response {
    let Some(job) = s.backend.update() else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "database updates are not available: this server has no updater wired into the \
             console (reload the databases after updating them by other means)",
        );
    };
    if s.updating.swap(true, Ordering::SeqCst) {
        return error(StatusCode::CONFLICT, "an update is already running");
    }
    let _running = Running(&s.updating);
    let started = Instant::now();
    info!(target: "bulwark::console", "database update started");
    let result = job.await;
    let report = UpdateReport {
        at: sampler::unix_now(),
        secs: started.elapsed().as_secs_f64(),
        ok: result.is_ok(),
        message: match &result {
            Ok(m) => m.clone(),
            Err(e) => e.to_string(),
        },
    };
    if let Ok(mut g) = s.last_update.lock() {
        *g = Some(report.clone());
    }
    match result {
        Ok(message) => {
            info!(target: "bulwark::console", "database update done: {message}");
            ok(&UpdateDone {
                ok: true,
                message,
                report,
            })
        }
        Err(e) => {
            warn!(target: "bulwark::console", "database update failed: {e}");
            json_response(
                StatusCode::BAD_GATEWAY,
                &UpdateFailed {
                    ok: false,
                    error: e.to_string(),
                    report,
                },
            )
        }
    }
}

/// The answer to a reload: the server's message, or `500` saying the previous one serves.
fn reload_answer(what: &str, r: Result<String, BackendError>) -> Response {
    match r {
        Ok(message) => ok(&Message { ok: true, message }),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} refused, the previous one keeps serving: {e}"),
        ),
    }
}

/// `POST /api/reload`: the configuration and the databases.
pub(crate) async fn reload(State(s): State<Arc<Shared>>) -> Response {
    reload_answer("reload", s.backend.reload().await)
}

/// `POST /api/reload-db`: the databases.
pub(crate) async fn reload_db(State(s): State<Arc<Shared>>) -> Response {
    reload_answer("database reload", s.backend.reload_db().await)
}
