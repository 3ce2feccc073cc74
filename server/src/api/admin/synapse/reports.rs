//! Synapse's event reports admin API: what users reported with
//! `POST /rooms/{roomId}/report/{eventId}`, listed, shown and deleted; and, in the same
//! shape, reports of whole rooms and users (`POST /rooms/{roomId}/report`,
//! `POST /users/{userId}/report`).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::reports::Report;
use ruma::OwnedRoomId;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{int_param, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_synapse/admin/v1/event_reports", list)
        .raw(Method::GET, "/_synapse/admin/v1/event_reports/{id}", get)
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/event_reports/{id}",
            delete,
        )
        .raw(Method::GET, "/_synapse/admin/v1/room_reports", room_reports)
        .raw(Method::GET, "/_synapse/admin/v1/user_reports", user_reports)
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/room_reports/{id}",
            delete_room_report,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/user_reports/{id}",
            delete_user_report,
        );
}

/// A report as Synapse lists it: with the room's name and alias and the event's sender.
fn describe(state: &AppState, id: u64, report: &Report) -> Result<Value> {
    let pdu = crate::rooms::load_pdu(state, &report.event_id)?;
    let room = match OwnedRoomId::try_from(report.room_id.as_str()) {
        Ok(room_id) => RoomCtx::load(&state.storage, &room_id)?,
        Err(_) => None,
    };
    let field = |kind: &str, name: &str| -> Result<Value> {
        Ok(match &room {
            Some(room) => crate::rooms::state::current_event(state, room, kind, "")?
                .and_then(|e| crate::rooms::state::content_str(&e, name))
                .map_or(Value::Null, Value::from),
            None => Value::Null,
        })
    };
    Ok(json!({
        "id": id,
        "received_ts": report.ts,
        "room_id": report.room_id,
        "name": field("m.room.name", "name")?,
        "canonical_alias": field("m.room.canonical_alias", "alias")?,
        "event_id": report.event_id,
        "user_id": report.reporter,
        "reason": report.reason,
        "score": report.score,
        "sender": pdu.map(|p| p.sender.to_string()),
    }))
}

/// `GET /_synapse/admin/v1/event_reports`
async fn list(state: web::Data<AppState>, _admin: Admin, req: HttpRequest) -> Result<HttpResponse> {
    let q = query(&req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let newest_first = match q.get("dir").map(String::as_str) {
        None | Some("b") => true,
        Some("f") => false,
        Some(_) => return Err(Error::invalid_param("dir must be f or b")),
    };
    let mut reports = Vec::new();
    for (id, report) in state.storage.reports.list()? {
        if q.get("user_id").is_some_and(|u| *u != report.reporter)
            || q.get("room_id").is_some_and(|r| *r != report.room_id)
        {
            continue;
        }
        let entry = describe(&state, id, &report)?;
        if let Some(sender) = q.get("event_sender_user_id")
            && entry["sender"].as_str() != Some(sender.as_str())
        {
            continue;
        }
        reports.push(entry);
    }
    if newest_first {
        reports.reverse();
    }
    let total = reports.len();
    let page: Vec<Value> = reports.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "event_reports": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!(from + limit);
    }
    Ok(HttpResponse::Ok().json(body))
}

fn report_id(raw: &str) -> Result<u64> {
    raw.parse()
        .map_err(|_| Error::invalid_param("The report ID must be an integer"))
}

/// `GET /_synapse/admin/v1/event_reports/{id}`: with the reported event itself.
async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = report_id(&path)?;
    let report = state
        .storage
        .reports
        .get(id)?
        .ok_or_else(|| Error::not_found("Event report not found"))?;
    let mut body = describe(&state, id, &report)?;
    if let Some(pdu) = crate::rooms::load_pdu(&state, &report.event_id)? {
        body["event_json"] = serde_json::to_value(&pdu.json).unwrap_or(Value::Null);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `DELETE /_synapse/admin/v1/event_reports/{id}`
async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = report_id(&path)?;
    if !state.storage.reports.delete(id)? {
        return Err(Error::not_found("Event report not found"));
    }
    state.storage.flush().await?;
    tracing::info!(admin = %admin.0.user_id, id, "event report deleted");
    let target = id.to_string();
    super::audited(&state, &admin, "admin.event_report.delete", Some(&target)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Reports of whole rooms or users, newest first, in `event_reports`' shape.
fn subject_reports(state: &AppState, req: &HttpRequest, kind: &str) -> Result<HttpResponse> {
    let q = query(req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let target_field = if kind == "room" {
        "room_id"
    } else {
        "target_user_id"
    };
    let mut reports: Vec<Value> = state
        .storage
        .reports
        .subjects(kind)?
        .into_iter()
        .filter(|(_, r)| q.get("user_id").is_none_or(|u| *u == r.reporter))
        .filter(|(_, r)| q.get(target_field).is_none_or(|t| *t == r.target))
        .map(|(id, r)| {
            json!({
                "id": id,
                "received_ts": r.ts,
                "user_id": r.reporter,
                target_field: r.target,
                "reason": r.reason,
            })
        })
        .collect();
    reports.reverse();
    let total = reports.len();
    let page: Vec<Value> = reports.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ format!("{kind}_reports"): page, "total": total });
    if from + limit < total {
        body["next_token"] = json!(from + limit);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_synapse/admin/v1/room_reports`
async fn room_reports(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    subject_reports(&state, &req, "room")
}

/// `GET /_synapse/admin/v1/user_reports`
async fn user_reports(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    subject_reports(&state, &req, "user")
}

async fn delete_subject(
    state: &AppState,
    admin: &Admin,
    kind: &str,
    raw: &str,
) -> Result<HttpResponse> {
    let id = report_id(raw)?;
    if !state.storage.reports.delete_subject(kind, id)? {
        return Err(Error::not_found("Report not found"));
    }
    state.storage.flush().await?;
    let target = id.to_string();
    super::audited(
        state,
        admin,
        &format!("admin.{kind}_report.delete"),
        Some(&target),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `DELETE /_synapse/admin/v1/room_reports/{id}`
async fn delete_room_report(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    delete_subject(&state, &admin, "room", &path).await
}

/// `DELETE /_synapse/admin/v1/user_reports/{id}`
async fn delete_user_report(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    delete_subject(&state, &admin, "user", &path).await
}
