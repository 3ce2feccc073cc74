//! `openid/userinfo` (server-server API, "OpenID"): a third party holding a user's
//! OpenID token learns whose it is. Authenticated by that token alone, not X-Matrix.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::token;

/// `GET /_matrix/federation/v1/openid/userinfo?access_token=…`
pub async fn userinfo(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let secret =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("access_token").cloned())
            .ok_or_else(Error::missing_token)?;
    let record = state
        .storage
        .tokens
        .openid(&token::hash(&secret), citadel_storage::now_ms())?
        .ok_or_else(|| Error::unknown_token(false))?;
    Ok(HttpResponse::Ok().json(json!({ "sub": record.user_id })))
}
