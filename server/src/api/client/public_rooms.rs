//! The published room directory: `/publicRooms` and `/directory/list/room/{roomId}`.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::error::{Error, Result, parse_json};
use crate::api::extract::{Authed, read_body};
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::state::{current, power_levels};

pub fn routes(routes: &mut Routes<'_>) {
    for version in ["v3", "r0"] {
        routes
            .raw(
                Method::GET,
                &format!("/_matrix/client/{version}/publicRooms"),
                get_public_rooms,
            )
            .raw(
                Method::POST,
                &format!("/_matrix/client/{version}/publicRooms"),
                post_public_rooms,
            )
            .raw(
                Method::GET,
                &format!("/_matrix/client/{version}/directory/list/room/{{room_id}}"),
                get_visibility,
            )
            .raw(
                Method::PUT,
                &format!("/_matrix/client/{version}/directory/list/room/{{room_id}}"),
                set_visibility,
            );
    }
}

const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize, Default)]
pub(crate) struct Listing {
    pub limit: Option<usize>,
    pub since: Option<String>,
    pub server: Option<String>,
    #[serde(default)]
    pub filter: Filter,
}

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    pub generic_search_term: Option<String>,
    pub room_types: Option<Vec<Option<String>>>,
}

/// `GET /_matrix/client/v3/publicRooms`
async fn get_public_rooms(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let listing: Listing = web::Query::<Listing>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Error::invalid_param(format!("Invalid query: {e}")))?;
    list(&state, listing).await
}

/// `POST /_matrix/client/v3/publicRooms` (filtered)
async fn post_public_rooms(
    state: web::Data<AppState>,
    _sender: Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let body = read_body(
        &req,
        payload.into_inner(),
        state.config.http.max_request_bytes,
    )
    .await?;
    let listing: Listing = if body.is_empty() {
        Listing::default()
    } else {
        parse_json(&body)?
    };
    list(&state, listing).await
}

async fn list(state: &AppState, listing: Listing) -> Result<HttpResponse> {
    match listing.server.as_deref() {
        Some(server) if server != state.server_name() => {
            Ok(HttpResponse::Ok().json(remote(state, server, &listing).await?))
        }
        _ => Ok(HttpResponse::Ok().json(local_directory(state, listing)?)),
    }
}

/// Another server's directory, through `/_matrix/federation/v1/publicRooms`.
async fn remote(state: &AppState, server: &str, listing: &Listing) -> Result<Value> {
    if !state.config.federation.enabled {
        return Err(Error::not_found("Federation is disabled on this server"));
    }
    let mut body = json!({ "limit": listing.limit.unwrap_or(DEFAULT_LIMIT) });
    if let Some(since) = &listing.since {
        body["since"] = json!(since);
    }
    if let Some(term) = &listing.filter.generic_search_term {
        body["filter"]["generic_search_term"] = json!(term);
    }
    match state
        .federation
        .request(
            server,
            "POST",
            "/_matrix/federation/v1/publicRooms",
            Some(&body),
        )
        .await
    {
        Ok((200, answer)) if answer["chunk"].is_array() => Ok(answer),
        Ok((status, answer)) => Err(Error::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            format!("{server} answered {status}: {answer}"),
        )),
        Err(e) => Err(Error::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            e.to_string(),
        )),
    }
}

/// This server's published rooms, paged and filtered.
pub(crate) fn local_directory(state: &AppState, listing: Listing) -> Result<Value> {
    let offset = match listing.since.as_deref() {
        Some(token) => token
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::invalid_param("Invalid pagination token"))?,
        None => 0,
    };
    let limit = listing.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 500);
    let term = listing.filter.generic_search_term.map(|t| t.to_lowercase());
    let mut rooms = Vec::new();
    for room_id in state.storage.rooms.directory.published()? {
        let Ok(room_id) = ruma::OwnedRoomId::try_from(room_id) else {
            continue;
        };
        let Some(room) = RoomCtx::load(&state.storage, &room_id)? else {
            continue;
        };
        let entry = crate::rooms::hierarchy::directory_entry(state, &room)?;
        if let Some(term) = &term {
            let haystack = ["name", "topic", "canonical_alias"]
                .iter()
                .filter_map(|f| entry[*f].as_str())
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            if !haystack.contains(term.as_str()) {
                continue;
            }
        }
        if let Some(types) = &listing.filter.room_types {
            let room_type = entry
                .get("room_type")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if !types.contains(&room_type) {
                continue;
            }
        }
        rooms.push(entry);
    }
    // Biggest rooms first; ties by room ID, so pages are stable.
    rooms.sort_by(|a, b| {
        b["num_joined_members"]
            .as_u64()
            .cmp(&a["num_joined_members"].as_u64())
            .then_with(|| a["room_id"].as_str().cmp(&b["room_id"].as_str()))
    });
    let total = rooms.len();
    let page: Vec<Value> = rooms.into_iter().skip(offset).take(limit).collect();
    let mut body = json!({ "chunk": page, "total_room_count_estimate": total });
    if offset + limit < total {
        body["next_batch"] = json!(format!("p{}", offset + limit));
    }
    if offset > 0 {
        body["prev_batch"] = json!(format!("p{}", offset.saturating_sub(limit)));
    }
    Ok(body)
}

fn room_from_path(req: &HttpRequest) -> Result<ruma::OwnedRoomId> {
    let raw = req.match_info().get("room_id").unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    ruma::OwnedRoomId::try_from(decoded.as_ref())
        .map_err(|_| Error::invalid_param("Invalid room ID"))
}

/// `GET /_matrix/client/v3/directory/list/room/{roomId}`
async fn get_visibility(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let room_id = room_from_path(&req)?;
    RoomCtx::require(&state.storage, &room_id)?;
    let visibility = if state
        .storage
        .rooms
        .directory
        .is_published(room_id.as_str())?
    {
        "public"
    } else {
        "private"
    };
    Ok(HttpResponse::Ok().json(json!({ "visibility": visibility })))
}

#[derive(Deserialize)]
struct VisibilityBody {
    visibility: Option<String>,
}

/// `PUT /_matrix/client/v3/directory/list/room/{roomId}`: by members with the power to
/// change the room's canonical alias.
async fn set_visibility(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let room_id = room_from_path(&req)?;
    let room = RoomCtx::require(&state.storage, &room_id)?;
    let body = read_body(
        &req,
        payload.into_inner(),
        state.config.http.max_request_bytes,
    )
    .await?;
    let body: VisibilityBody = parse_json(&body)?;
    let publish = match body.visibility.as_deref() {
        Some("public") => true,
        Some("private") | None => false,
        Some(_) => return Err(Error::invalid_param("visibility must be public or private")),
    };
    let (_, map) = current(&state, &room)?;
    let (level, needed) = power_levels(
        &state,
        &room,
        &map,
        sender.user_id.as_str(),
        "state_default",
    )?;
    let joined = state
        .storage
        .rooms
        .membership
        .get(sender.user_id.as_str(), room_id.as_str())?
        .is_some_and(|r| r.membership == "join");
    if !joined || level < needed.max(50) {
        return Err(Error::forbidden(
            "You may not change this room's visibility in the directory",
        ));
    }
    state
        .storage
        .rooms
        .directory
        .set_published(room_id.as_str(), publish)?;
    state.storage.flush().await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
