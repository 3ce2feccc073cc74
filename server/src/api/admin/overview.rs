//! Citadel's admin summary for a dashboard: what the server holds, how much disk it
//! takes, how its queues are doing, and which version runs.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::Result;
use crate::app::AppState;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            actix_web::http::Method::GET,
            "/_citadel/admin/v1/summary",
            summary,
        )
        .raw(
            actix_web::http::Method::GET,
            "/_citadel/admin/v1/metrics/history",
            metrics_history,
        );
}

/// `GET /_citadel/admin/v1/metrics/history`: the last hour of requests per second, p99
/// latency (long polls left out), events per second and failed logins, per interval.
async fn metrics_history(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let points = state.metrics.history.points(citadel_storage::now_ms());
    Ok(HttpResponse::Ok().json(json!({
        "interval_ms": crate::metrics_history::INTERVAL.as_millis() as u64,
        "points": points,
    })))
}

/// `GET /_citadel/admin/v1/summary`
async fn summary(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let storage = &state.storage;
    let users = storage.users.list()?;
    let count_users = |keep: fn(&citadel_storage::users::UserRecord) -> bool| {
        users.iter().filter(|(_, u)| keep(u)).count()
    };
    // Active means a device used the API since then (last-seen times are written at
    // most every few minutes, so "today" is exact to that).
    let now = citadel_storage::now_ms();
    let (day_ago, month_ago) = (now.saturating_sub(DAY_MS), now.saturating_sub(30 * DAY_MS));
    let (mut active_day, mut active_month) = (0, 0);
    for (user_id, _) in &users {
        let last_seen = storage
            .devices
            .list(user_id)?
            .iter()
            .filter_map(|(_, d)| d.last_seen_ts)
            .max();
        active_day += usize::from(last_seen.is_some_and(|ts| ts >= day_ago));
        active_month += usize::from(last_seen.is_some_and(|ts| ts >= month_ago));
    }
    let today = citadel_storage::daily_counts::day_of(now);
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
            "active_today": active_day,
            "active_month": active_month,
        },
        "events": {
            "today": storage.daily_counts.get(today, citadel_storage::daily_counts::EVENTS)?,
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
