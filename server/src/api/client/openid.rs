//! OpenID (client-server API, "OpenID"): a short-lived token a user gives a third party
//! (an integration manager, a widget) so that it can ask this server, over federation
//! `openid/userinfo`, which user holds it. The token grants nothing else.

use std::time::Duration;

use actix_web::web;
use citadel_storage::now_ms;
use citadel_storage::tokens::OpenIdToken;
use ruma::api::client::account::request_openid_token;
use ruma::authentication::TokenType;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::auth::token;

/// How long an OpenID token is good for (Synapse's figure).
const OPENID_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(request_openid_token);
}

/// `POST /_matrix/client/v3/user/{userId}/openid/request_token`
async fn request_openid_token(
    state: web::Data<AppState>,
    req: Ruma<request_openid_token::v3::Request>,
) -> Result<request_openid_token::v3::Response> {
    let sender = &req.sender()?.user_id;
    if *sender != req.body.user_id {
        return Err(Error::forbidden(
            "You may only request an OpenID token for yourself",
        ));
    }
    let secret = token::generate(token::OPENID_PREFIX);
    let record = OpenIdToken {
        user_id: sender.to_string(),
        expires_at: now_ms() + OPENID_TOKEN_LIFETIME.as_millis() as u64,
    };
    state
        .storage
        .tokens
        .put_openid(&token::hash(&secret), &record)?;
    state.storage.flush().await?;
    let server_name =
        ruma::OwnedServerName::try_from(state.server_name()).map_err(Error::internal)?;
    Ok(request_openid_token::v3::Response::new(
        secret,
        TokenType::Bearer,
        server_name,
        OPENID_TOKEN_LIFETIME,
    ))
}
