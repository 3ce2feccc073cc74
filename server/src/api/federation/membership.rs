//! Joining (and leaving) rooms this server is in, on behalf of other servers' users:
//! `make_join`/`send_join` and `make_leave`/`send_leave`, and invites from other
//! servers; the deprecated v1 forms of the `send_*` and invite endpoints too.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_federation::pdu::{EventContent, Pdu};
use ruma::{CanonicalJsonObject, RoomId, UserId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::error::{Error, Result, parse_json};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;
use crate::rooms::RoomCtx;
use crate::rooms::append::{Graph, check_auth};
use crate::rooms::incoming::{Outcome, accept_relayed, state_before};
use crate::rooms::state::current;

/// A room this server is joined to (`404 M_NOT_FOUND` otherwise) whose server ACL lets
/// `origin` in.
fn resident_room(state: &AppState, room_id: &str, origin: &str) -> Result<RoomCtx> {
    let room_id = <&RoomId>::try_from(room_id).map_err(|_| Error::invalid_param("Bad room ID"))?;
    let room = RoomCtx::require(&state.storage, room_id)?;
    if !crate::rooms::servers::is_in_room(state, room_id, state.server_name())? {
        return Err(Error::not_found("This server is not in the room"));
    }
    crate::rooms::acl::check_room(state, &room, origin)?;
    Ok(room)
}

/// The joining user, who must belong to the requesting server.
fn user_of_origin<'a>(from: &FederationRequest, user_id: &'a str) -> Result<&'a UserId> {
    let user = <&UserId>::try_from(user_id).map_err(|_| Error::invalid_param("Bad user ID"))?;
    if user.server_name().as_str() != from.origin {
        return Err(Error::forbidden(
            "The user does not belong to the requesting server",
        ));
    }
    Ok(user)
}

/// The `ver` query parameters: room versions the requesting server supports (`1` when
/// none are given, as the spec says).
fn supported_versions(req: &HttpRequest) -> Vec<String> {
    let versions: Vec<String> = req
        .query_string()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("ver="))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if versions.is_empty() {
        vec!["1".into()]
    } else {
        versions
    }
}

/// A membership template at the end of the room, checked against its current state.
fn membership_template(
    state: &AppState,
    room: &RoomCtx,
    user: &UserId,
    mut content: CanonicalJsonObject,
    membership: &str,
) -> Result<CanonicalJsonObject> {
    content.insert("membership".into(), membership.into());
    let event = EventContent {
        kind: "m.room.member".into(),
        state_key: Some(user.to_string()),
        content,
        redacts: None,
    };
    let (_, map) = current(state, room)?;
    let graph = Graph::at_end(state, room, &map, user, &event)?;
    let now = ruma::MilliSecondsSinceUnixEpoch::now();
    let template =
        citadel_federation::pdu::template(&room.rules, user, event, graph.position(room), now)
            .map_err(|e| Error::bad_json(e.to_string()))?;
    // Whether the membership would be allowed now (the real event is checked again).
    let probe_id =
        ruma::OwnedEventId::try_from("$template:citadel.invalid").map_err(Error::internal)?;
    let probe = Pdu::from_json(probe_id, template.clone()).map_err(Error::internal)?;
    check_auth(state, room, &probe, &map)?;
    Ok(template)
}

/// The answer to `make_join`/`make_knock`/`make_leave`: a template for the requesting
/// server's user, when the room's version suits it (`ver`, for joins and knocks) and the
/// membership would be allowed now.
fn make_membership(
    state: &AppState,
    from: &FederationRequest,
    path: (String, String),
    versions: Option<Vec<String>>,
    membership: &str,
) -> Result<HttpResponse> {
    let (room_id, user_id) = path;
    let user = user_of_origin(from, &user_id)?;
    let room = resident_room(state, &room_id, &from.origin)?;
    let unsupported = versions.is_some_and(|v| !v.contains(&room.version.to_string()))
        || (membership == "knock" && !room.rules.authorization.knocking);
    if unsupported {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_INCOMPATIBLE_ROOM_VERSION",
            "Your server does not support this room's version (or it does not allow knocking)",
        )
        .with("room_version", room.version.to_string()));
    }
    let mut content = CanonicalJsonObject::new();
    let invited = crate::rooms::membership::membership_of(state, &room, user.as_str())?
        .is_some_and(|m| m == "invite");
    if membership == "join"
        && !invited
        && let Some(authoriser) =
            crate::rooms::membership::restricted_join_authoriser(state, &room, user)?
    {
        content.insert("join_authorised_via_users_server".into(), authoriser.into());
    }
    let template = membership_template(state, &room, user, content, membership)?;
    Ok(HttpResponse::Ok().json(json!({
        "room_version": room.version.to_string(),
        "event": template,
    })))
}

/// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
pub async fn make_join(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    make_membership(
        &state,
        &from,
        path.into_inner(),
        Some(supported_versions(&req)),
        "join",
    )
}

/// `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
pub async fn make_knock(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    make_membership(
        &state,
        &from,
        path.into_inner(),
        Some(supported_versions(&req)),
        "knock",
    )
}

/// `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
pub async fn make_leave(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    make_membership(&state, &from, path.into_inner(), None, "leave")
}

/// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
pub async fn send_knock(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let room = resident_room(&state, &room_id, &from.origin)?;
    accept_membership(&state, &from, &room, &event_id, "knock").await?;
    let (_, map) = current(&state, &room)?;
    let events = crate::rooms::state::events_of(&state, &map)?;
    Ok(HttpResponse::Ok().json(json!({
        "knock_room_state": crate::rooms::remote_invite::stripped(&events),
    })))
}

/// Checks a membership event another server signed and handed to us to apply and relay.
async fn accept_membership(
    state: &AppState,
    from: &FederationRequest,
    room: &RoomCtx,
    event_id: &str,
    membership: &str,
) -> Result<Pdu> {
    let raw: Box<RawValue> = parse_json(&from.body)?;
    let mut pdu = crate::rooms::fetch::verify_pdu(state, room, &raw)
        .await
        .map_err(Error::bad_json)?;
    if pdu.event_id.as_str() != event_id {
        return Err(Error::bad_json("The event ID does not match the event"));
    }
    let content: Value = serde_json::from_str(pdu.content.get()).unwrap_or_default();
    if pdu.kind.to_string() != "m.room.member"
        || pdu.state_key.as_deref() != Some(pdu.sender.as_str())
        || content["membership"] != membership
    {
        return Err(Error::bad_json(format!(
            "Not a {membership} event of its sender"
        )));
    }
    if pdu.sender.server_name().as_str() != from.origin {
        return Err(Error::forbidden(
            "The sender does not belong to the requesting server",
        ));
    }
    // A restricted join vouched for by one of our users carries our signature too.
    if let Some(authoriser) = content["join_authorised_via_users_server"].as_str()
        && authoriser.ends_with(&format!(":{}", state.server_name()))
    {
        state
            .signing_key
            .hash_and_sign_event(&mut pdu.json, &room.rules)
            .map_err(|_| Error::internal("cannot sign the join"))?;
    }
    match accept_relayed(state, &from.origin, room, pdu.clone()).await {
        Ok(Outcome::Accepted | Outcome::Known) => Ok(pdu),
        Ok(Outcome::SoftFailed) => Err(Error::forbidden(
            "The event is not allowed by the room's current state",
        )),
        Err(reason) => Err(Error::forbidden(reason)),
    }
}

/// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
pub async fn send_join(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(accept_join(&state, &from, path.into_inner()).await?))
}

/// `PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}`: deprecated, still
/// specified; the same join with the v1 answer `[200, {origin, auth_chain, state}]`.
pub async fn send_join_v1(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let mut answer = accept_join(&state, &from, path.into_inner()).await?;
    let v1: serde_json::Map<String, Value> = ["origin", "auth_chain", "state"]
        .into_iter()
        .filter_map(|key| Some((key.to_owned(), answer.get_mut(key)?.take())))
        .collect();
    Ok(HttpResponse::Ok().json(json!([200, v1])))
}

/// Accepts a join signed by the joining server; the v2 answer: the state before it, the
/// auth chain, the event as this server signed it and the servers in the room.
async fn accept_join(
    state: &AppState,
    from: &FederationRequest,
    (room_id, event_id): (String, String),
) -> Result<Value> {
    let room = resident_room(state, &room_id, &from.origin)?;
    let pdu = accept_membership(state, from, &room, &event_id, "join").await?;
    let before = state_before(state, &room, &pdu)?;
    let state_events = crate::rooms::state::events_of(state, &before)?;
    let chain = crate::rooms::state::auth_chain_of(
        state,
        state_events
            .iter()
            .map(|p| &p.event_id)
            .chain(std::iter::once(&pdu.event_id)),
    )?;
    let servers: Vec<String> = crate::rooms::servers::in_room(state, &room.room_id)?
        .into_iter()
        .collect();
    Ok(json!({
        "origin": state.server_name(),
        "state": state_events.iter().map(|p| &p.json).collect::<Vec<_>>(),
        "auth_chain": chain.iter().map(|p| &p.json).collect::<Vec<_>>(),
        "event": pdu.json,
        "members_omitted": false,
        "servers_in_room": servers,
    }))
}

/// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
pub async fn send_leave(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let room = resident_room(&state, &room_id, &from.origin)?;
    accept_membership(&state, &from, &room, &event_id, "leave").await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}`: deprecated, still
/// specified; the v1 answer is `[200, {}]`.
pub async fn send_leave_v1(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let room = resident_room(&state, &room_id, &from.origin)?;
    accept_membership(&state, &from, &room, &event_id, "leave").await?;
    Ok(HttpResponse::Ok().json(json!([200, {}])))
}

/// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
pub async fn invite(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let body: Value = parse_json(&from.body)?;
    let answer = receive_invite(&state, &from, &room_id, &event_id, &body).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `PUT /_matrix/federation/v1/invite/{roomId}/{eventId}`: deprecated, still specified.
/// The body is the event itself, with the stripped state in `unsigned.invite_room_state`,
/// and no room version: a version 1 room, as the spec's v1 API implies.
pub async fn invite_v1(
    state: web::Data<AppState>,
    from: FederationRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (room_id, event_id) = path.into_inner();
    let event: Value = parse_json(&from.body)?;
    let body = json!({
        "event": event,
        "room_version": "1",
        "invite_room_state": event["unsigned"]["invite_room_state"],
    });
    let answer = receive_invite(&state, &from, &room_id, &event_id, &body).await?;
    Ok(HttpResponse::Ok().json(json!([200, answer])))
}

async fn receive_invite(
    state: &AppState,
    from: &FederationRequest,
    room_id: &str,
    event_id: &str,
    body: &Value,
) -> Result<Value> {
    let room_id = <&RoomId>::try_from(room_id).map_err(|_| Error::invalid_param("Bad room ID"))?;
    if let Some(room) = RoomCtx::load(&state.storage, room_id)? {
        crate::rooms::acl::check_room(state, &room, &from.origin)?;
    }
    crate::rooms::remote_invite::receive_invite(state, &from.origin, room_id, event_id, body).await
}
