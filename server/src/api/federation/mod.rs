//! The server-server API: server keys, transactions, joins and leaves, reading events and
//! state, queries and media.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub mod auth;
pub mod events;
pub mod keys;
pub mod media;
pub mod membership;
pub mod notary;
pub mod openid;
pub mod query;
pub mod send;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn register(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/key/v2/server", server_keys)
        .raw(Method::GET, "/_matrix/key/v2/server/{key_id}", server_keys)
        .raw(Method::GET, "/_matrix/federation/v1/version", version)
        .raw(
            Method::GET,
            "/_matrix/federation/v1/openid/userinfo",
            openid::userinfo,
        )
        .raw(
            Method::GET,
            "/_matrix/key/v2/query/{server_name}",
            notary::query_one,
        )
        .raw(
            Method::GET,
            "/_matrix/key/v2/query/{server_name}/{key_id}",
            notary::query_one,
        )
        .raw(Method::POST, "/_matrix/key/v2/query", notary::query)
        .raw(
            Method::GET,
            "/_matrix/federation/v1/query/profile",
            query::profile,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/query/directory",
            query::directory,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/publicRooms",
            query::public_rooms_get,
        )
        .raw(
            Method::POST,
            "/_matrix/federation/v1/publicRooms",
            query::public_rooms_post,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v1/send/{txn_id}",
            send::send_transaction,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/make_join/{room_id}/{user_id}",
            membership::make_join,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v2/send_join/{room_id}/{event_id}",
            membership::send_join,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v1/send_join/{room_id}/{event_id}",
            membership::send_join_v1,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/make_knock/{room_id}/{user_id}",
            membership::make_knock,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v1/send_knock/{room_id}/{event_id}",
            membership::send_knock,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/make_leave/{room_id}/{user_id}",
            membership::make_leave,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v2/send_leave/{room_id}/{event_id}",
            membership::send_leave,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v1/send_leave/{room_id}/{event_id}",
            membership::send_leave_v1,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v2/invite/{room_id}/{event_id}",
            membership::invite,
        )
        .raw(
            Method::PUT,
            "/_matrix/federation/v1/invite/{room_id}/{event_id}",
            membership::invite_v1,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/event/{event_id}",
            events::event,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/state/{room_id}",
            events::room_state,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/state_ids/{room_id}",
            events::state_ids,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/event_auth/{room_id}/{event_id}",
            events::event_auth,
        )
        .raw(
            Method::POST,
            "/_matrix/federation/v1/get_missing_events/{room_id}",
            events::get_missing_events,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/backfill/{room_id}",
            events::backfill,
        )
        .raw(
            Method::POST,
            "/_matrix/federation/v1/user/keys/query",
            keys::query,
        )
        .raw(
            Method::POST,
            "/_matrix/federation/v1/user/keys/claim",
            keys::claim,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/user/devices/{user_id}",
            keys::devices,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/media/download/{media_id}",
            media::download,
        )
        .raw(
            Method::GET,
            "/_matrix/federation/v1/media/thumbnail/{media_id}",
            media::thumbnail,
        );
}

/// `GET /_matrix/key/v2/server`: the server's signed key document.
async fn server_keys(state: web::Data<AppState>) -> Result<HttpResponse> {
    let document =
        citadel_federation::server_keys::own_keys(&state.signing_key, citadel_storage::now_ms())
            .map_err(Error::internal)?;
    Ok(HttpResponse::Ok().json(document))
}

/// `GET /_matrix/federation/v1/version`
async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "server": { "name": "Citadel", "version": env!("CARGO_PKG_VERSION") } }))
}
