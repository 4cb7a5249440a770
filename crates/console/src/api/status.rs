//! The status page, the live statistics and the licence.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::backend::{LicenseStatus, ServerStatus};
use crate::configedit;
use crate::sampler::Sample;

use super::model::{CountersNow, DatabaseInfo, LicenseInfo, LicensePage, StatsPage, Status};
use super::reply::{error, ok};
use super::state::Shared;

/// The licence as the API shows it.
fn license_info(l: Option<&LicenseStatus>) -> LicenseInfo {
    match l {
        None => LicenseInfo {
            required: false,
            state: "not required".into(),
            allows_scanning: true,
            expiring_in_days: None,
        },
        Some(l) => LicenseInfo {
            required: true,
            state: l.state.clone(),
            allows_scanning: l.allows_scanning,
            expiring_in_days: l.expiring_in_days,
        },
    }
}

/// The database in use, its age counted at `now`.
pub(crate) fn database_info(st: &ServerStatus, now: &Sample) -> DatabaseInfo {
    let loaded_at = now.counters.database_loaded;
    DatabaseInfo {
        version: st.database_version.clone(),
        loaded_at,
        age_secs: (i64::try_from(now.t).unwrap_or(i64::MAX) - loaded_at).max(0),
    }
}

/// `GET /api/status`.
pub(crate) async fn status(State(s): State<Arc<Shared>>) -> Response {
    let st = s.backend.status();
    let now = s.sample_now();
    let c = &now.counters;
    ok(&Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: st.uptime_secs,
        istag: st.istag.clone(),
        connections_open: c.connections_open,
        connections_total: c.connections,
        in_flight: c.in_flight,
        objects_total: c.objects.values().sum(),
        objects_infected: c.objects.get("infected").copied().unwrap_or(0),
        database: database_info(&st, &now),
        license: license_info(st.license.as_ref()),
        config_path: s.config_path_text(),
        update_available: s.backend.update_available(),
    })
}

/// `GET /api/stats`: the counters now, the hour's percentiles and the chart points.
pub(crate) async fn stats(State(s): State<Arc<Shared>>) -> Response {
    let now = s.sample_now();
    let interval = s.console().sample_interval_secs.max(1);
    let (series, hour) = match s.ring.lock() {
        Ok(r) => (r.series(), r.hour(&now)),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "samples unavailable"),
    };
    let requests_total = now.counters.requests_total();
    let c = now.counters;
    ok(&StatsPage {
        interval_secs: interval,
        now: CountersNow {
            t: now.t,
            requests: c.requests,
            requests_total,
            objects: c.objects,
            bytes: c.bytes,
            connections: c.connections,
            connections_open: c.connections_open,
            in_flight: c.in_flight,
        },
        hour,
        series,
    })
}

/// `GET /api/license`: the licence state and `[license]` (secrets masked).
pub(crate) async fn license(State(s): State<Arc<Shared>>) -> Response {
    let st = s.backend.status();
    let config = toml::to_string(&s.backend.config().license)
        .ok()
        .and_then(|t| configedit::mask_text(&t));
    ok(&LicensePage {
        license: license_info(st.license.as_ref()),
        config,
    })
}
