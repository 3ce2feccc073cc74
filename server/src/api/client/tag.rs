//! Room tags: `/user/{userId}/rooms/{roomId}/tags[/{tag}]`. Stored as the room's `m.tag`
//! account data, so changes reach other devices through `/sync` like any account data.

use actix_web::web;
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use serde_json::Value;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::tags::{load, save};

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(get_tags).ruma(create_tag).ruma(delete_tag);
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
async fn get_tags(
    state: web::Data<AppState>,
    req: Ruma<get_tags::v3::Request>,
) -> Result<get_tags::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot read other users' tags"));
    }
    let tags = load(&state, req.body.user_id.as_str(), req.body.room_id.as_str())?;
    let tags = serde_json::from_value(Value::Object(tags)).map_err(Error::internal)?;
    Ok(get_tags::v3::Response::new(tags))
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn create_tag(
    state: web::Data<AppState>,
    req: Ruma<create_tag::v3::Request>,
) -> Result<create_tag::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot set other users' tags"));
    }
    if req.body.tag.len() > 255 {
        return Err(Error::invalid_param("Tag names are at most 255 bytes"));
    }
    let (user, room) = (req.body.user_id.as_str(), req.body.room_id.as_str());
    let mut tags = load(&state, user, room)?;
    tags.insert(
        req.body.tag.clone(),
        serde_json::to_value(&req.body.tag_info).map_err(Error::internal)?,
    );
    save(&state, user, room, tags).await?;
    Ok(create_tag::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn delete_tag(
    state: web::Data<AppState>,
    req: Ruma<delete_tag::v3::Request>,
) -> Result<delete_tag::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot change other users' tags"));
    }
    let (user, room) = (req.body.user_id.as_str(), req.body.room_id.as_str());
    let mut tags = load(&state, user, room)?;
    if tags.remove(&req.body.tag).is_some() {
        save(&state, user, room, tags).await?;
    }
    Ok(delete_tag::v3::Response::new())
}
