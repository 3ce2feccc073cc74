//! Simplified sliding sync (MSC4186) at its unstable and stable paths. Request and
//! response shapes are Citadel's own (`sync::sliding::request`, `sync::sliding::wire`):
//! ruma has only the unstable form, and its types cannot carry the stable one's fields.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::sync::sliding::request::{self, Flavor};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::POST,
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
            sync_unstable,
        )
        .raw(Method::POST, "/_matrix/client/v4/sync", sync_stable);
}

/// `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
async fn sync_unstable(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let query = web::Query::<request::Query>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Error::invalid_param(format!("Invalid query parameters: {e}")))?;
    answer(&state, &sender, Flavor::Unstable, &body, query).await
}

/// `POST /_matrix/client/v4/sync`
async fn sync_stable(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    body: web::Bytes,
) -> Result<HttpResponse> {
    answer(&state, &sender, Flavor::Stable, &body, Default::default()).await
}

async fn answer(
    state: &AppState,
    sender: &crate::auth::session::Sender,
    flavor: Flavor,
    body: &[u8],
    query: request::Query,
) -> Result<HttpResponse> {
    let request = request::parse(flavor, body, query)?;
    let response = crate::sync::sliding::sync(
        state,
        sender.user_id.as_str(),
        sender.device_id.as_str(),
        flavor,
        request,
    )
    .await?;
    Ok(HttpResponse::Ok().json(response))
}
