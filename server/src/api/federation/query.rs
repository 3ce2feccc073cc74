//! Queries other servers make: profiles, room aliases and the published room directory.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;

fn query(req: &HttpRequest, name: &str) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `GET /_matrix/federation/v1/query/profile?user_id=…[&field=…]`
pub async fn profile(
    state: web::Data<AppState>,
    _from: FederationRequest,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user_id =
        query(&req, "user_id").ok_or_else(|| Error::missing_param("user_id is required"))?;
    let parsed =
        ruma::UserId::parse(&user_id).map_err(|_| Error::invalid_param("Invalid user ID"))?;
    if parsed.server_name().as_str() != state.server_name()
        || !state.storage.users.exists(&user_id)?
    {
        return Err(Error::not_found("Profile not found"));
    }
    let profile = state.storage.users.profile(&user_id)?;
    let body: Value = match query(&req, "field") {
        Some(field) => {
            json!({ field.clone(): profile.get(&field).cloned().unwrap_or(Value::Null) })
        }
        None => Value::Object(profile),
    };
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_matrix/federation/v1/query/directory?room_alias=…`
pub async fn directory(
    state: web::Data<AppState>,
    _from: FederationRequest,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let alias =
        query(&req, "room_alias").ok_or_else(|| Error::missing_param("room_alias is required"))?;
    let record = state
        .storage
        .rooms
        .aliases
        .get(&alias)?
        .ok_or_else(|| Error::not_found("Room alias not found"))?;
    let room_id = ruma::OwnedRoomId::try_from(record.room_id).map_err(Error::internal)?;
    let servers: Vec<String> = crate::rooms::servers::in_room(&state, &room_id)?
        .into_iter()
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id, "servers": servers })))
}

/// `GET /_matrix/federation/v1/publicRooms`
pub async fn public_rooms_get(
    state: web::Data<AppState>,
    _from: FederationRequest,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let listing = crate::api::client::public_rooms::Listing {
        limit: query(&req, "limit").and_then(|l| l.parse().ok()),
        since: query(&req, "since"),
        ..Default::default()
    };
    let body = crate::api::client::public_rooms::local_directory(&state, listing)?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /_matrix/federation/v1/publicRooms`
pub async fn public_rooms_post(
    state: web::Data<AppState>,
    from: FederationRequest,
) -> Result<HttpResponse> {
    let mut listing: crate::api::client::public_rooms::Listing =
        crate::api::error::parse_json(&from.body)?;
    // Only this server's directory is served to others.
    listing.server = None;
    let body = crate::api::client::public_rooms::local_directory(&state, listing)?;
    Ok(HttpResponse::Ok().json(body))
}
