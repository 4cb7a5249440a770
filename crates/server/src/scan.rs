//! Phases 3 and 4 of a REQMOD or RESPMOD: select the policy group, then answer what needs no
//! body (no body at all, no licence, an object known to be infected, a policy filter), and hand
//! everything else to the body driver ([`crate::body`]), which runs the answer flow.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bulwark_config::policy::Action;
use bulwark_engine::{Status, Verdict};
use bulwark_icap::Request;
use bulwark_policy::{FilterDecision, Template};

use crate::answer;
use crate::body::Body;
use crate::conn::{skip_body, Conn, ConnError, Next, Transport};
use crate::context::Context;
use crate::flow::Start;
use crate::identify::identify;
use crate::record::Reported;
use crate::snapshot::Snapshot;
use crate::txn::{object_info, skip_label, unscanned_verdict, Txn, SNIFF_KEEP};

/// Phases 3 and 4 for a REQMOD or RESPMOD.
pub(crate) async fn scan<S: Transport>(
    conn: &mut Conn<S>,
    ctx: &Context,
    snap: &Arc<Snapshot>,
    req: &Request,
) -> Result<Next, ConnError> {
    let id = identify(snap, req);
    let url = req
        .http_request
        .as_ref()
        .map(|h| h.url())
        .unwrap_or_default();
    let client_ip = id.client.as_deref().and_then(|c| c.parse::<IpAddr>().ok());
    let group = snap.policy.select(client_ip, id.user.as_deref(), &url);
    let t = Txn {
        ctx,
        snap,
        req,
        group,
        id,
        url,
        started: Instant::now(),
        uncacheable: group.config().mark_uncacheable && req.http_response.is_some(),
    };

    if !req.has_body {
        // Nothing to scan (CONNECT, HEAD, GET in REQMOD, bodiless answers): pass at once.
        skip_body(conn).await?;
        ctx.stats.excluded("no_body");
        if req.preview.is_some() || req.allows_204() {
            answer::no_content(&snap.istag, &mut conn.out);
        } else {
            answer::echo_head(req, &snap.istag, false, &mut conn.out);
        }
        conn.flush().await?;
        return Ok(Next::KeepAlive);
    }

    if ctx.license.as_ref().is_some_and(|l| !l.allows_scanning()) {
        // No usable licence: LicenseErrorAction for every object.
        if group.action(Status::LicenseError) == Action::Skip {
            ctx.stats.excluded("license");
            return Body::new(&t, Start::Pass, None).run(conn).await;
        }
        let v = Verdict::of(Status::LicenseError);
        return block_before_body(
            conn,
            &t,
            &v,
            Some(Template::LicenseError),
            Reported::BlockUnscanned,
        )
        .await;
    }

    if let Some(v) = t.cached_block() {
        return block_before_body(conn, &t, &v, None, Reported::BlockCached).await;
    }

    let (start, sniff_after) = match group.filter(&object_info(req, &t.url, None)) {
        FilterDecision::Scan => (Start::Scan, None),
        FilterDecision::NeedBytes(n) => (Start::Sniff, Some(n.min(SNIFF_KEEP))),
        FilterDecision::Skip(reason) => {
            ctx.stats.excluded(skip_label(reason));
            (Start::Pass, None)
        }
        FilterDecision::Deny(template) => {
            let v = unscanned_verdict(template);
            return block_before_body(conn, &t, &v, Some(template), Reported::BlockUnscanned).await;
        }
    };
    // The fleet's blocked objects, for what this instance would scan (a policy exclusion
    // costs no lookup).
    if start != Start::Pass {
        if let Some(v) = t.shared_block().await {
            return block_before_body(conn, &t, &v, None, Reported::BlockShared).await;
        }
    }
    Body::new(&t, start, sniff_after).run(conn).await
}

/// The block page before any body byte was scanned; the body is read and discarded first.
async fn block_before_body<S: Transport>(
    conn: &mut Conn<S>,
    t: &Txn<'_>,
    v: &Verdict,
    template: Option<Template>,
    reported: Reported,
) -> Result<Next, ConnError> {
    // Read first (to the preview's end, or the body's): Squid answers its user 502 when the
    // page races a body it is still sending.
    skip_body(conn).await?;
    t.block(&mut conn.out, v, template);
    // Refused before its body: no hash.
    t.report(0, v, reported, None);
    conn.flush().await?;
    Ok(Next::KeepAlive)
}
