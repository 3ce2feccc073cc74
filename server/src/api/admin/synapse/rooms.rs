//! Synapse's room admin API, reading part: the room list (search, order, direction,
//! public and empty filters), a room's details, its members, its state and the space
//! tree below it.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use ruma::OwnedRoomId;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{bool_param, int_param, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{current, events_of};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_synapse/admin/v1/rooms", list)
        .raw(Method::GET, "/_synapse/admin/v1/rooms/{room_id}", details)
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/members",
            members,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/state",
            state_events,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/rooms/{room_id}/hierarchy",
            hierarchy,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/rooms/{room_id_or_alias}/make_room_admin",
            make_room_admin,
        );
}

/// The room a path names, by ID or (for the endpoints Synapse documents as
/// `room_id_or_alias`) by a local alias: `404 M_NOT_FOUND` when unknown.
pub(crate) fn room(state: &AppState, raw: &str) -> Result<RoomCtx> {
    let raw = if raw.starts_with('#') {
        ruma::RoomAliasId::parse(raw)
            .map_err(|_| Error::invalid_param(format!("Invalid room alias {raw:?}")))?;
        state
            .storage
            .rooms
            .aliases
            .get(raw)?
            .ok_or_else(|| Error::not_found("Room alias not found"))?
            .room_id
    } else {
        raw.to_owned()
    };
    let room_id = crate::api::extract::room_id_param(&raw)?;
    RoomCtx::load(&state.storage, &room_id)?.ok_or_else(|| Error::not_found("Room not found"))
}

/// What the list and the details say of a room.
fn describe(state: &AppState, room: &RoomCtx) -> Result<Value> {
    let (_, map) = current(state, room)?;
    let events = events_of(state, &map)?;
    let content = |kind: &str| -> Value {
        events
            .iter()
            .find(|p| p.kind.to_string() == kind && p.state_key.as_deref() == Some(""))
            .map(|p| serde_json::from_str(p.content.get()).unwrap_or_default())
            .unwrap_or(Value::Null)
    };
    let members = crate::rooms::members::of(state, room.room_id.as_str())?;
    let joined: Vec<&str> = members
        .iter()
        .filter(|(_, r)| r.membership == "join")
        .map(|(u, _)| u)
        .collect();
    let local_suffix = format!(":{}", state.server_name());
    let local: Vec<&&str> = joined
        .iter()
        .filter(|u| u.ends_with(&local_suffix))
        .collect();
    let mut local_devices = 0;
    for user in &local {
        local_devices += state.storage.devices.list(user)?.len();
    }
    let create = content("m.room.create");
    let creator = events
        .iter()
        .find(|p| p.kind.to_string() == "m.room.create")
        .map(|p| p.sender.to_string());
    let tombstone = content("m.room.tombstone");
    Ok(json!({
        "room_id": room.room_id,
        "name": content("m.room.name")["name"],
        "topic": content("m.room.topic")["topic"],
        "avatar": content("m.room.avatar")["url"],
        "canonical_alias": content("m.room.canonical_alias")["alias"],
        "joined_members": joined.len(),
        "joined_local_members": local.len(),
        "joined_local_devices": local_devices,
        "version": room.version.as_str(),
        "creator": creator,
        "encryption": content("m.room.encryption")["algorithm"],
        "federatable": create["m.federate"].as_bool().unwrap_or(true),
        "public": state.storage.rooms.directory.is_published(room.room_id.as_str())?,
        "join_rules": content("m.room.join_rules")["join_rule"],
        "guest_access": content("m.room.guest_access")["guest_access"],
        "history_visibility": content("m.room.history_visibility")["history_visibility"],
        "state_events": events.len(),
        "room_type": create["type"],
        "forgotten": false,
        "tombstoned": !tombstone.is_null(),
        "replacement_room": tombstone["replacement_room"],
    }))
}

/// `GET /_synapse/admin/v1/rooms`
async fn list(state: web::Data<AppState>, _admin: Admin, req: HttpRequest) -> Result<HttpResponse> {
    let q = query(&req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let public = bool_param(&q, "public_rooms")?;
    let empty = bool_param(&q, "empty_rooms")?;
    let backwards = match q.get("dir").map(String::as_str) {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => return Err(Error::invalid_param("dir must be f or b")),
    };
    let order_by = match q.get("order_by").map(String::as_str).unwrap_or("name") {
        "alphabetical" => "name",
        "size" => "joined_members",
        other => other,
    };
    const ORDERS: [&str; 14] = [
        "name",
        "canonical_alias",
        "joined_members",
        "joined_local_members",
        "version",
        "creator",
        "encryption",
        "federatable",
        "public",
        "join_rules",
        "guest_access",
        "history_visibility",
        "state_events",
        "room_id",
    ];
    if !ORDERS.contains(&order_by) {
        return Err(Error::invalid_param(format!(
            "Unknown value for order_by: {order_by:?}"
        )));
    }
    let search = q.get("search_term").map(|s| s.to_lowercase());
    let mut rooms = Vec::new();
    for (room_id, _) in state.storage.rooms.all()? {
        let Ok(room_id) = OwnedRoomId::try_from(room_id) else {
            continue;
        };
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        let info = describe(&state, &room)?;
        if public.is_some_and(|p| Some(p) != info["public"].as_bool()) {
            continue;
        }
        if empty.is_some_and(|e| e != (info["joined_members"] == 0)) {
            continue;
        }
        if let Some(term) = &search {
            let name = info["name"].as_str().unwrap_or_default().to_lowercase();
            let alias_local = info["canonical_alias"]
                .as_str()
                .and_then(|a| a.strip_prefix('#'))
                .and_then(|a| a.split(':').next())
                .unwrap_or_default()
                .to_lowercase();
            if !name.contains(term.as_str())
                && !alias_local.contains(term.as_str())
                && !room_id.as_str().contains(q["search_term"].as_str())
            {
                continue;
            }
        }
        rooms.push(info);
    }
    // Counts and flags sort largest first, as in Synapse; text alphabetically; the
    // room ID breaks ties.
    let numeric = matches!(
        order_by,
        "joined_members"
            | "joined_local_members"
            | "state_events"
            | "version"
            | "federatable"
            | "public"
    );
    rooms.sort_by(|a, b| {
        let (x, y) = (&a[order_by], &b[order_by]);
        let primary = if numeric {
            sort_number(y).cmp(&sort_number(x))
        } else {
            x.as_str()
                .unwrap_or_default()
                .cmp(y.as_str().unwrap_or_default())
        };
        primary.then_with(|| a["room_id"].as_str().cmp(&b["room_id"].as_str()))
    });
    if backwards {
        rooms.reverse();
    }
    let total = rooms.len();
    let page: Vec<Value> = rooms.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "rooms": page, "offset": from, "total_rooms": total });
    if from + limit < total {
        body["next_batch"] = json!(from + limit);
    }
    if from > 0 {
        body["prev_batch"] = json!(from.saturating_sub(limit));
    }
    Ok(HttpResponse::Ok().json(body))
}

fn sort_number(v: &Value) -> u64 {
    match v {
        Value::Bool(b) => u64::from(*b),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// `GET /_synapse/admin/v1/rooms/{room_id}`
async fn details(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room = room(&state, &path)?;
    Ok(HttpResponse::Ok().json(describe(&state, &room)?))
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/members`
async fn members(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let room = room(&state, &path)?;
    let members: Vec<String> = crate::rooms::members::of(&state, room.room_id.as_str())?
        .iter()
        .filter(|(_, r)| r.membership == "join")
        .map(|(u, _)| u.to_owned())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "total": members.len(), "members": members })))
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/state`
async fn state_events(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let room = room(&state, &path)?;
    let kind = query(&req).get("type").cloned();
    let (_, map) = current(&state, &room)?;
    let events: Vec<Value> = events_of(&state, &map)?
        .iter()
        .filter(|p| kind.as_deref().is_none_or(|k| p.kind.to_string() == k))
        .map(|p| p.to_client_event(true))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "state": events })))
}

#[derive(serde::Deserialize)]
struct MakeRoomAdmin {
    user_id: Option<String>,
}

/// `POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin`: the user (the
/// calling admin by default) gets the power of the room's most powerful local member.
async fn make_room_admin(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: MakeRoomAdmin = if body.iter().all(u8::is_ascii_whitespace) {
        MakeRoomAdmin { user_id: None }
    } else {
        crate::api::error::parse_json(&body)?
    };
    let room = room(&state, &path)?;
    let raw = request
        .user_id
        .unwrap_or_else(|| admin.0.user_id.to_string());
    let user_id = crate::api::admin::synapse::users::local_user(&state, &raw, "make room admin")?;
    crate::api::admin::synapse::users::existing(&state, &user_id)?;
    let user = ruma::OwnedUserId::try_from(user_id.as_str()).map_err(Error::internal)?;
    crate::rooms::make_admin::make_room_admin(&state, &room, &user).await?;
    super::audited(
        &state,
        &admin,
        "admin.room.make_room_admin",
        Some(room.room_id.as_str()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `GET /_synapse/admin/v1/rooms/{room_id}/hierarchy?from=&limit=&max_depth=`: the
/// client API's walk without its visibility checks, over rooms this server holds.
async fn hierarchy(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    use crate::rooms::hierarchy::{MAX_LIMIT, Request, Viewer, walk};
    let root =
        ruma::RoomId::parse(path.as_str()).map_err(|_| Error::invalid_param("Invalid room ID"))?;
    let q = query(&req);
    let limit = match int_param(&q, "limit", MAX_LIMIT as u64)? {
        0 => return Err(Error::invalid_param("limit must be greater than zero")),
        n => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    let max_depth = q
        .contains_key("max_depth")
        .then(|| int_param(&q, "max_depth", 0))
        .transpose()?;
    let page = walk(
        &state,
        &Request {
            root: &root,
            viewer: Viewer::Admin,
            suggested_only: false,
            max_depth,
            limit,
            from: q.get("from").map(String::as_str),
        },
    )?;
    let mut body = json!({ "rooms": page.rooms });
    if let Some(next) = page.next_batch {
        body["next_batch"] = json!(next);
    }
    Ok(HttpResponse::Ok().json(body))
}
