//! Admin actions on a user's behalf: joining them to a room, and logging in as them
//! (both recorded in the audit trail; the login shows up as a device of the user's, so
//! they can see it happened).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, local_user};
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::POST,
            "/_synapse/admin/v1/join/{room_id_or_alias}",
            join,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/users/{user_id}/login",
            login_as,
        );
}

#[derive(Deserialize)]
struct Join {
    user_id: String,
}

/// `POST /_synapse/admin/v1/join/{roomIdOrAlias}`: a local user joins a room; if the
/// room is not public, the admin (who must be in it) invites them first.
async fn join(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let request: Join = parse_json(&body)?;
    let user_id = local_user(&state, &request.user_id, "join")?;
    existing(&state, &user_id)?;
    let room_id = match path.strip_prefix('#') {
        Some(_) => {
            let record = state
                .storage
                .rooms
                .aliases
                .get(&path)?
                .ok_or_else(|| Error::not_found("Room alias not found"))?;
            ruma::OwnedRoomId::try_from(record.room_id).map_err(Error::internal)?
        }
        None => ruma::OwnedRoomId::try_from(path.as_str())
            .map_err(|_| Error::invalid_param("Invalid room ID or alias"))?,
    };
    let room = crate::rooms::RoomCtx::load(&state.storage, &room_id)?
        .ok_or_else(|| Error::not_found("Room not found"))?;
    let user = ruma::OwnedUserId::try_from(user_id.as_str()).map_err(Error::internal)?;
    let public = crate::rooms::state::current_event(&state, &room, "m.room.join_rules", "")?
        .and_then(|e| crate::rooms::state::content_str(&e, "join_rule"))
        .is_some_and(|rule| rule == "public");
    let membership = crate::rooms::membership::membership_of(&state, &room, &user_id)?;
    if !public && membership.as_deref() != Some("invite") && membership.as_deref() != Some("join") {
        let admin_in_room =
            crate::rooms::membership::membership_of(&state, &room, admin.0.user_id.as_str())?;
        if admin_in_room.as_deref() != Some("join") {
            return Err(Error::forbidden(
                "The room is not public and the admin is not in it to invite the user",
            ));
        }
        crate::rooms::membership::change_other(
            &state,
            &room_id,
            &admin.0.user_id,
            &user,
            "invite",
            None,
        )
        .await?;
    }
    crate::rooms::membership::join(&state, &room_id, &user, None, &[], &Default::default()).await?;
    super::audited(&state, &admin, "admin.room.join_user", Some(&user_id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id })))
}

/// `POST /_synapse/admin/v1/users/{user_id}/login`: an access token for the user.
async fn login_as(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "log in as")?;
    let record = existing(&state, &user_id)?;
    if record.deactivated {
        return Err(Error::not_found("User not found"));
    }
    if admin.0.user_id.as_str() == user_id {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "Cannot use admin API to login as self",
        ));
    }
    let session = crate::auth::session::start(
        &state,
        &user_id,
        None,
        Some(format!("Signed in by the admin {}", admin.0.user_id)),
        false,
        crate::api::extract::client_ip(&req),
    )
    .await?;
    let event = crate::audit::Event::new(
        admin.0.user_id.as_str(),
        "admin.user.login_as",
        Some(&user_id),
    )
    .from_address(Some(crate::api::extract::client_ip(&req).to_string()), None)
    .details(json!({ "device_id": session.device_id }));
    crate::audit::record(&state, event).await?;
    Ok(HttpResponse::Ok().json(json!({ "access_token": session.access_token })))
}
