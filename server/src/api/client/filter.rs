//! Sync filters: `POST /user/{userId}/filter`, `GET /user/{userId}/filter/{filterId}`.

use actix_web::web;
use ruma::api::client::filter::{create_filter, get_filter};
use serde_json::value::RawValue;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(create_filter).ruma(get_filter);
}

/// `POST /_matrix/client/v3/user/{userId}/filter`
async fn create_filter(
    state: web::Data<AppState>,
    req: Ruma<create_filter::v3::Request>,
) -> Result<create_filter::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot create filters for other users"));
    }
    let json = serde_json::to_string(&req.body.filter).map_err(Error::internal)?;
    let raw = RawValue::from_string(json).map_err(Error::internal)?;
    let filter_id = state.storage.next_id()?.to_string();
    state
        .storage
        .filters
        .put(req.body.user_id.as_str(), &filter_id, &raw)?;
    state.storage.flush().await?;
    Ok(create_filter::v3::Response::new(filter_id))
}

/// `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
async fn get_filter(
    state: web::Data<AppState>,
    req: Ruma<get_filter::v3::Request>,
) -> Result<get_filter::v3::Response> {
    if req.sender()?.user_id != req.body.user_id {
        return Err(Error::forbidden("Cannot read other users' filters"));
    }
    let raw = state
        .storage
        .filters
        .get(req.body.user_id.as_str(), &req.body.filter_id)?
        .ok_or_else(|| Error::not_found("No such filter"))?;
    let filter = serde_json::from_str(raw.get()).map_err(Error::internal)?;
    Ok(get_filter::v3::Response::new(filter))
}
