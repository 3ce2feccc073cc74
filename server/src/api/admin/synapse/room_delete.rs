//! Synapse's room delete admin API: delete v1 (synchronous) and v2 (a background task
//! with `delete_status`), blocking rooms, and the scheduled task list that shows every
//! long operation.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::tasks::Task;
use ruma::OwnedRoomId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::query;
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;
use crate::rooms::shutdown::{DeleteParams, ShutdownResult};
use crate::tasks::SHUTDOWN_AND_PURGE_ROOM;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/rooms/{room_id}",
            delete_v1,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v2/rooms/{room_id}",
            delete_v2,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v2/rooms/{room_id}/delete_status",
            status_by_room,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v2/rooms/delete_status/{delete_id}",
            status_by_id,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/block",
            get_block,
        )
        .raw(
            Method::PUT,
            "/_synapse/admin/v1/rooms/{room_id}/block",
            put_block,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/scheduled_tasks",
            scheduled_tasks,
        );
}

/// The body of both delete versions (unknown fields are ignored, as by Synapse).
#[derive(Deserialize)]
struct DeleteBody {
    new_room_user_id: Option<String>,
    room_name: Option<String>,
    message: Option<String>,
    block: Option<bool>,
    purge: Option<bool>,
    force_purge: Option<bool>,
}

fn room_id(raw: &str) -> Result<OwnedRoomId> {
    OwnedRoomId::try_from(raw)
        .map_err(|_| Error::invalid_param(format!("{raw} is not a legal room ID")))
}

/// Validates a delete request and stores it as a task; `400` while one is running.
async fn schedule_delete(
    state: &AppState,
    admin: &Admin,
    raw_room: &str,
    body: &[u8],
) -> Result<Task> {
    let value: Value = parse_json(body)?;
    if !value.is_object() {
        return Err(Error::bad_json("The body must be a JSON object"));
    }
    for flag in ["block", "purge", "force_purge"] {
        if value
            .get(flag)
            .is_some_and(|v| !v.is_boolean() && !v.is_null())
        {
            return Err(Error::bad_json(format!(
                "Param '{flag}' must be a boolean, if given"
            )));
        }
    }
    let body: DeleteBody =
        serde_json::from_value(value).map_err(|e| Error::bad_json(e.to_string()))?;
    let room_id = room_id(raw_room)?;
    if let Some(user) = &body.new_room_user_id {
        let ours = ruma::UserId::parse(user.as_str())
            .is_ok_and(|u| u.server_name().as_str() == state.server_name());
        if !ours {
            return Err(Error::unknown(
                actix_web::http::StatusCode::BAD_REQUEST,
                format!("User must be our own: {user}"),
            ));
        }
    }
    let running = state.storage.tasks.all()?.into_iter().any(|t| {
        t.action == SHUTDOWN_AND_PURGE_ROOM
            && t.resource_id == room_id.as_str()
            && t.status.is_pending()
    });
    if running {
        return Err(Error::unknown(
            actix_web::http::StatusCode::BAD_REQUEST,
            format!("Purge already in progress for {room_id}"),
        ));
    }
    let params = DeleteParams {
        requester_user_id: admin.0.user_id.to_string(),
        new_room_user_id: body.new_room_user_id,
        room_name: body.room_name,
        message: body.message,
        block: body.block.unwrap_or(false),
        purge: body.purge.unwrap_or(true),
        force_purge: body.force_purge.unwrap_or(false),
    };
    let task = crate::tasks::schedule(
        state,
        SHUTDOWN_AND_PURGE_ROOM,
        room_id.as_str(),
        serde_json::to_value(&params).map_err(Error::internal)?,
    )
    .await?;
    let details = json!({ "delete_id": task.id, "block": params.block, "purge": params.purge });
    let event = crate::audit::Event::new(
        admin.0.user_id.as_str(),
        "admin.room.delete",
        Some(room_id.as_str()),
    )
    .details(details);
    crate::audit::record(state, event).await?;
    Ok(task)
}

/// `DELETE /_synapse/admin/v1/rooms/{room_id}`: shuts the room down and purges it,
/// answering when done.
async fn delete_v1(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let task = schedule_delete(&state, &admin, &path, &body).await?;
    match crate::tasks::run(&state, task).await? {
        (_, Some(failure)) => Err(failure),
        (done, None) => Ok(HttpResponse::Ok().json(shutdown_room(&done))),
    }
}

/// `DELETE /_synapse/admin/v2/rooms/{room_id}`: starts the delete in the background.
async fn delete_v2(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let task = schedule_delete(&state, &admin, &path, &body).await?;
    let delete_id = task.id.clone();
    crate::tasks::spawn(state.clone(), task);
    Ok(HttpResponse::Ok().json(json!({ "delete_id": delete_id })))
}

/// A task's result in Synapse's `shutdown_room` shape.
fn shutdown_room(task: &Task) -> Value {
    let result: ShutdownResult = task
        .result
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    json!({
        "kicked_users": result.kicked_users,
        "failed_to_kick_users": result.failed_to_kick_users,
        "local_aliases": result.local_aliases,
        "new_room_id": result.new_room_id,
    })
}

fn delete_status(task: &Task) -> Value {
    let mut status = json!({
        "delete_id": task.id,
        "room_id": task.resource_id,
        "status": task.status.as_str(),
        "shutdown_room": shutdown_room(task),
    });
    if let Some(error) = &task.error {
        status["error"] = json!(error);
    }
    status
}

/// `GET /_synapse/admin/v2/rooms/{room_id}/delete_status`
async fn status_by_room(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room_id = room_id(&path)?;
    let mut tasks: Vec<Task> = state
        .storage
        .tasks
        .all()?
        .into_iter()
        .filter(|t| t.action == SHUTDOWN_AND_PURGE_ROOM && t.resource_id == room_id.as_str())
        .collect();
    if tasks.is_empty() {
        return Err(Error::not_found(format!(
            "No delete task for room_id '{room_id}' found"
        )));
    }
    tasks.sort_by_key(|t| t.timestamp_ms);
    let results: Vec<Value> = tasks.iter().map(delete_status).collect();
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// `GET /_synapse/admin/v2/rooms/delete_status/{delete_id}`
async fn status_by_id(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let task = crate::tasks::get(&state, &path, SHUTDOWN_AND_PURGE_ROOM)?
        .ok_or_else(|| Error::not_found(format!("delete id '{path}' not found")))?;
    Ok(HttpResponse::Ok().json(delete_status(&task)))
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/block`
async fn get_block(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room_id = room_id(&path)?;
    Ok(
        HttpResponse::Ok().json(match state.storage.rooms.blocked.get(room_id.as_str())? {
            Some(block) => json!({ "block": true, "user_id": block.user_id }),
            None => json!({ "block": false }),
        }),
    )
}

#[derive(Deserialize)]
struct BlockBody {
    block: bool,
}

/// `PUT /_synapse/admin/v1/rooms/{room_id}/block`: rooms this server does not know can
/// be blocked too.
async fn put_block(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: BlockBody = parse_json(&body)?;
    let room_id = room_id(&path)?;
    let blocked = &state.storage.rooms.blocked;
    if request.block {
        blocked.block(
            room_id.as_str(),
            &citadel_storage::rooms::blocked::Block {
                user_id: admin.0.user_id.to_string(),
                ts: citadel_storage::now_ms(),
            },
        )?;
    } else {
        blocked.unblock(room_id.as_str())?;
    }
    state.storage.flush().await?;
    let action = if request.block {
        "admin.room.block"
    } else {
        "admin.room.unblock"
    };
    super::audited(&state, &admin, action, Some(room_id.as_str())).await?;
    Ok(HttpResponse::Ok().json(json!({ "block": request.block })))
}

/// `GET /_synapse/admin/v1/scheduled_tasks`: filtered by `action_name`, `resource_id`,
/// `status` and `max_timestamp`; newest first.
async fn scheduled_tasks(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query = query(&req);
    let max_timestamp = match query.get("max_timestamp") {
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            Error::invalid_param("Query parameter \"max_timestamp\" must be an integer")
        })?),
        None => None,
    };
    if let Some(status) = query.get("status")
        && !["scheduled", "active", "complete", "cancelled", "failed"].contains(&status.as_str())
    {
        return Err(Error::invalid_param(format!(
            "Query parameter \"status\" must be one of scheduled, active, complete, cancelled, failed, not {status:?}"
        )));
    }
    let mut tasks: Vec<Task> = state
        .storage
        .tasks
        .all()?
        .into_iter()
        .filter(|t| query.get("action_name").is_none_or(|a| *a == t.action))
        .filter(|t| query.get("resource_id").is_none_or(|r| *r == t.resource_id))
        .filter(|t| query.get("status").is_none_or(|s| s == t.status.as_str()))
        .filter(|t| max_timestamp.is_none_or(|max| t.timestamp_ms < max))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.timestamp_ms));
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "action": t.action,
                "status": t.status.as_str(),
                "timestamp_ms": t.timestamp_ms,
                "resource_id": t.resource_id,
                "result": t.result.as_ref().map(|r| strip_internal(r.clone())),
                "error": t.error,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "scheduled_tasks": tasks })))
}

/// A stored result without Citadel's own progress markers.
fn strip_internal(mut result: Value) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.remove("message_sent");
        object.remove("moving");
    }
    result
}
