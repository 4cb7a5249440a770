//! One ICAP transaction, in phases: route, identify, scan while the body streams, decide,
//! answer, log.

use std::sync::Arc;

use bulwark_icap::{Method, Request};
use tracing::warn;

use crate::answer;
use crate::conn::{skip_body, Conn, ConnError, Next, Transport};
use crate::context::Context;
use crate::scan::scan;
use crate::snapshot::Snapshot;

/// Where a request goes (phase 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// OPTIONS for a service of this mode.
    Options(Method),
    /// REQMOD or RESPMOD to a matching service.
    Scan(Method),
    /// No such service.
    NotFound,
    /// The service exists but handles the other method.
    WrongMethod,
}

fn route(snap: &Snapshot, req: &Request) -> Route {
    let s = &snap.config.server;
    let mode = if s.respmod_paths.contains(&req.service) {
        Method::Respmod
    } else if s.reqmod_paths.contains(&req.service) {
        Method::Reqmod
    } else {
        return Route::NotFound;
    };
    match req.method {
        Method::Options => Route::Options(mode),
        m if m == mode => Route::Scan(mode),
        _ => Route::WrongMethod,
    }
}

/// Runs one transaction whose head was just decoded.
pub(crate) async fn run<S: Transport>(
    conn: &mut Conn<S>,
    ctx: &Context,
    snap: &Arc<Snapshot>,
    req: Request,
) -> Result<Next, ConnError> {
    let close_after = req.wants_close();
    let _in_flight = ctx.stats.transaction();
    ctx.stats.request(&req.method.as_str().to_ascii_lowercase());
    let next = match route(snap, &req) {
        Route::Options(mode) => {
            skip_body(conn).await?;
            let s = &snap.config.server;
            answer::options(
                &answer::OptionsInfo {
                    method: mode.as_str(),
                    istag: &snap.istag,
                    // What one client may open: a proxy that keeps to it is never refused.
                    max_connections: s.per_client_limit(),
                    ttl_secs: s.options_ttl_secs,
                    preview: s.preview_bytes,
                    transfer_complete: &s.transfer_complete,
                    transfer_ignore: &s.transfer_ignore,
                },
                &mut conn.out,
            );
            conn.flush().await?;
            Next::KeepAlive
        }
        Route::NotFound | Route::WrongMethod => {
            let (status, reason) = if route(snap, &req) == Route::NotFound {
                (404, "ICAP Service Not Found")
            } else {
                (405, "Method Not Allowed For Service")
            };
            warn!(peer = %conn.peer, service = %req.service, method = req.method.as_str(), status, "refused");
            answer::error(status, reason, &snap.istag, true, &mut conn.out);
            conn.flush().await?;
            Next::Close
        }
        Route::Scan(_) => scan(conn, ctx, snap, &req).await?,
    };
    Ok(if close_after && next == Next::KeepAlive {
        Next::Close
    } else {
        next
    })
}
