//! Synapse's history purge admin API: deletes a room's old events (see
//! `crate::rooms::purge_history` for what is kept) as a background task.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::rooms::room;
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;
use crate::rooms::purge_history::PurgeHistoryParams;
use crate::tasks::PURGE_HISTORY;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::POST,
            "/_synapse/admin/v1/purge_history/{room_id}",
            purge_to_body,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/purge_history/{room_id}/{event_id}",
            purge_to_path,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/purge_history_status/{purge_id}",
            status,
        );
}

/// `POST /_synapse/admin/v1/purge_history/{room_id}` with `purge_up_to_event_id` or
/// `purge_up_to_ts` in the body.
async fn purge_to_body(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    start(&state, &admin, &path, None, &body).await
}

/// `POST /_synapse/admin/v1/purge_history/{room_id}/{event_id}`
async fn purge_to_path(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    start(&state, &admin, &room_id, Some(event_id), &body).await
}

async fn start(
    state: &web::Data<AppState>,
    admin: &Admin,
    raw_room: &str,
    event_id: Option<String>,
    body: &[u8],
) -> Result<HttpResponse> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(body)?
    };
    if !body.is_object() {
        return Err(Error::bad_json("The body must be a JSON object"));
    }
    let room = room(state, raw_room)?;
    let delete_local_events = body["delete_local_events"].as_bool().unwrap_or(false);
    let event_id = event_id.or_else(|| body["purge_up_to_event_id"].as_str().map(str::to_owned));
    let timeline = &state.storage.rooms.timeline;
    let before_count = if let Some(event_id) = event_id {
        let (at, _) = timeline
            .get(&event_id)?
            .ok_or_else(|| Error::not_found("Event not found"))?;
        if at.room != room.short {
            return Err(Error::unknown(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Event is for wrong room.",
            ));
        }
        at.count
    } else if let Some(ts) = body.get("purge_up_to_ts") {
        let ts = ts
            .as_u64()
            .ok_or_else(|| Error::bad_json("purge_up_to_ts must be an int"))?;
        last_before(state, room.short, ts)?
            .ok_or_else(|| Error::not_found("there is no event to be purged"))?
    } else {
        return Err(Error::bad_json(
            "must specify purge_up_to_event_id or purge_up_to_ts",
        ));
    };
    let params = PurgeHistoryParams {
        before_count,
        delete_local_events,
    };
    let task = crate::tasks::schedule(
        state,
        PURGE_HISTORY,
        room.room_id.as_str(),
        serde_json::to_value(&params).map_err(Error::internal)?,
    )
    .await?;
    let purge_id = task.id.clone();
    crate::audit::record(
        state,
        crate::audit::Event::new(
            admin.0.user_id.as_str(),
            "admin.room.purge_history",
            Some(room.room_id.as_str()),
        )
        .details(json!({ "purge_id": purge_id, "delete_local_events": delete_local_events })),
    )
    .await?;
    crate::tasks::spawn(state.clone(), task);
    Ok(HttpResponse::Ok().json(json!({ "purge_id": purge_id })))
}

/// The position of the room's last event sent before `ts`.
fn last_before(state: &AppState, short: u64, ts: u64) -> Result<Option<u64>> {
    let mut found = None;
    crate::rooms::walk::each_event(state, short, |count, pdu| {
        if u64::from(pdu.origin_server_ts.get()) >= ts {
            return Ok(std::ops::ControlFlow::Break(()));
        }
        found = Some(count);
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok(found)
}

/// `GET /_synapse/admin/v1/purge_history_status/{purge_id}`
async fn status(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    match crate::tasks::get(&state, &path, PURGE_HISTORY)? {
        Some(task) => {
            let status = match task.status.as_str() {
                done @ ("complete" | "failed") => done,
                _ => "active",
            };
            let mut body = json!({ "status": status });
            if let Some(error) = &task.error {
                body["error"] = json!(error);
            }
            Ok(HttpResponse::Ok().json(body))
        }
        _ => Err(Error::not_found(format!("purge id '{path}' not found"))),
    }
}
