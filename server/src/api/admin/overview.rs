//! Citadel's admin summary for a dashboard: what the server holds, how much disk it
//! takes, how its queues are doing, and which version runs.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::Result;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(
        actix_web::http::Method::GET,
        "/_citadel/admin/v1/summary",
        summary,
    );
}

/// `GET /_citadel/admin/v1/summary`
async fn summary(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let storage = &state.storage;
    let users = storage.users.list()?;
    let count_users = |keep: fn(&citadel_storage::users::UserRecord) -> bool| {
        users.iter().filter(|(_, u)| keep(u)).count()
    };
    let (mut local_media, mut remote_media) = ((0u64, 0u64), (0u64, 0u64));
    for (origin, _, record) in storage.media.all()? {
        let side = if origin == state.server_name() {
            &mut local_media
        } else {
            &mut remote_media
        };
        side.0 += 1;
        side.1 += record.size;
    }
    let depths = storage.outbox.depths()?;
    let failing: Vec<_> = state
        .sender
        .get()
        .map(|sender| sender.health())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, h)| h.failing_since_ts.is_some())
        .map(|(destination, h)| {
            json!({
                "destination": destination,
                "failures": h.failures,
                "failing_since_ts": h.failing_since_ts,
                "retry_interval_ms": h.retry_interval_ms,
            })
        })
        .collect();
    let tasks = storage.tasks.all()?;
    let rules = crate::rooms::acl::rules(&state);
    let body = json!({
        "server_name": state.server_name(),
        "server_version": concat!("Citadel ", env!("CARGO_PKG_VERSION")),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "users": {
            "total": users.len(),
            "active": count_users(|u| !u.deactivated),
            "admins": count_users(|u| u.admin && !u.deactivated),
            "deactivated": count_users(|u| u.deactivated),
            "locked": count_users(|u| u.locked),
            "suspended": count_users(|u| u.suspended),
            "shadow_banned": count_users(|u| u.shadow_banned),
        },
        "rooms": { "total": storage.rooms.all()?.len() },
        "media": {
            "local": { "count": local_media.0, "bytes": local_media.1 },
            "remote_cached": { "count": remote_media.0, "bytes": remote_media.1 },
        },
        "disk": {
            "database_bytes": crate::metrics::dir_size(&state.config.database_path()),
            "media_bytes": crate::metrics::dir_size(state.media_store.root()),
        },
        "federation": {
            "enabled": state.config.federation.enabled,
            "rules_source": if rules.runtime { "runtime" } else { "config" },
            "destinations_queued": depths.len(),
            "queued_items": depths.iter().map(|(_, n)| n).sum::<usize>(),
            "failing_destinations": failing,
        },
        "to_device_queued": storage.to_device.queued()?,
        "scheduled_tasks": {
            "pending": tasks.iter().filter(|t| t.status.is_pending()).count(),
            "total": tasks.len(),
        },
        "reports": {
            "events": storage.reports.list()?.len(),
            "rooms": storage.reports.subjects("room")?.len(),
            "users": storage.reports.subjects("user")?.len(),
        },
        "audit": {
            "entries": storage.audit.latest_head()?.map_or(0, |h| h.tree_size),
        },
    });
    Ok(HttpResponse::Ok().json(body))
}
