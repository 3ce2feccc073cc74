//! `GET /_matrix/federation/v1/query/profile`: a local user's profile for another server.

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
