//! `POST /createRoom`.

use actix_web::web;
use ruma::RoomVersionId;
use ruma::api::client::room::{Visibility, create_room};
use ruma::room::RoomType;
use serde_json::Value;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::create::DEFAULT_ROOM_VERSION;
use crate::rooms::create::{CreateRoom, Preset, create_room as create};

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(create_room);
    // Raw: ruma refuses a malformed version string as M_BAD_JSON, where the spec wants
    // M_UNSUPPORTED_ROOM_VERSION for any version the server does not support.
    for version in ["v3", "r0"] {
        routes.raw(
            actix_web::http::Method::POST,
            &format!("/_matrix/client/{version}/rooms/{{room_id}}/upgrade"),
            upgrade_room,
        );
    }
}

/// `POST /_matrix/client/v3/createRoom`
async fn create_room(
    state: web::Data<AppState>,
    req: Ruma<create_room::v3::Request>,
) -> Result<create_room::v3::Response> {
    let sender = req.sender()?.user_id.clone();
    let body = req.body;
    let version = match body.room_version {
        Some(v) if v.rules().is_some() => v,
        Some(_) => {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_UNSUPPORTED_ROOM_VERSION",
                "This server does not support that room version",
            ));
        }
        None => RoomVersionId::try_from(DEFAULT_ROOM_VERSION).map_err(Error::internal)?,
    };
    use create_room::v3::RoomPreset;
    let preset = match body.preset {
        Some(RoomPreset::PrivateChat) => Preset::PrivateChat,
        Some(RoomPreset::TrustedPrivateChat) => Preset::TrustedPrivateChat,
        Some(RoomPreset::PublicChat) => Preset::PublicChat,
        Some(_) => return Err(Error::bad_json("Unknown preset")),
        None if body.visibility == Visibility::Public => Preset::PublicChat,
        None => Preset::PrivateChat,
    };
    let mut initial_state = Vec::new();
    for raw in &body.initial_state {
        let event: Value =
            serde_json::from_str(raw.json().get()).map_err(|e| Error::bad_json(e.to_string()))?;
        let kind = event["type"]
            .as_str()
            .ok_or_else(|| Error::bad_json("initial_state event without type"))?;
        if kind == "m.room.create" || kind == "m.room.member" {
            return Err(Error::bad_json(format!(
                "{kind} cannot be given in initial_state"
            )));
        }
        let state_key = event
            .get("state_key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let content = event
            .get("content")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        initial_state.push((kind.to_owned(), state_key, content));
    }
    let object = |raw: Option<&str>| -> Result<Option<serde_json::Map<String, Value>>> {
        match raw {
            None => Ok(None),
            Some(text) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => Ok(Some(map)),
                _ => Err(Error::bad_json("Expected a JSON object")),
            },
        }
    };
    let public = preset == Preset::PublicChat || body.visibility == Visibility::Public;
    if crate::e2ee::policy::encrypt_new_room(&state, public)
        && !initial_state
            .iter()
            .any(|(kind, key, _)| kind == "m.room.encryption" && key.is_empty())
    {
        initial_state.push((
            "m.room.encryption".into(),
            String::new(),
            crate::e2ee::policy::encryption_content(),
        ));
    }
    let creation_content = object(body.creation_content.as_ref().map(|r| r.json().get()))?;
    if let Some(content) = &creation_content
        && let Some(kind) = content.get("type")
        && serde_json::from_value::<RoomType>(kind.clone()).is_err()
    {
        return Err(Error::bad_json("Invalid room type"));
    }
    let request = CreateRoom {
        version,
        publish: body.visibility == Visibility::Public,
        preset,
        alias_localpart: body.room_alias_name,
        name: body.name,
        topic: body.topic,
        invite: body.invite,
        is_direct: body.is_direct,
        initial_state,
        power_level_override: object(
            body.power_level_content_override
                .as_ref()
                .map(|r| r.json().get()),
        )?,
        creation_content,
        room_id: None,
    };
    let room_id = create(&state, &sender, request).await?;
    tracing::info!(%room_id, %sender, "room created");
    Ok(create_room::v3::Response::new(room_id))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
async fn upgrade_room(
    state: web::Data<AppState>,
    authed: crate::api::extract::Authed,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<actix_web::HttpResponse> {
    #[derive(serde::Deserialize)]
    struct Body {
        new_version: String,
        #[serde(default)]
        additional_creators: Vec<ruma::OwnedUserId>,
    }
    let sender = authed.0.user_id.clone();
    let room_id = crate::api::extract::room_id_param(&path)?;
    let body: Body = crate::api::error::parse_json(&body)?;
    let new_version = ruma::RoomVersionId::try_from(body.new_version.as_str()).map_err(|_| {
        Error::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "M_UNSUPPORTED_ROOM_VERSION",
            format!("Unsupported room version {:?}", body.new_version),
        )
    })?;
    let new_room = crate::rooms::upgrade::upgrade(
        &state,
        &room_id,
        &sender,
        new_version,
        body.additional_creators,
    )
    .await?;
    tracing::info!(old = %room_id, new = %new_room, "room upgraded");
    Ok(actix_web::HttpResponse::Ok().json(serde_json::json!({ "replacement_room": new_room })))
}
