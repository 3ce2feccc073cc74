//! Synapse's admin API (`/_synapse/admin/...`), which admin panels (synapse-admin,
//! Ketesa) and moderation bots speak: same paths, parameters and response shapes.
//! Every endpoint takes the access token of a user with the admin flag.

pub mod acting;
pub mod devices;
pub mod extremities;
pub mod federation;
pub mod info;
pub mod media;
pub mod media_bulk;
pub mod purge_history;
pub mod registration_tokens;
pub mod reports;
pub mod restrictions;
pub mod room_delete;
pub mod room_messages;
pub mod rooms;
pub mod server;
pub mod server_notices;
pub mod threepids;
pub mod user_activity;
pub mod user_redact;
pub mod users;
pub mod whois;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::auth::session::Sender;

pub fn routes(routes: &mut Routes<'_>) {
    server::routes(routes);
    users::routes(routes);
    whois::routes(routes);
    user_activity::routes(routes);
    user_redact::routes(routes);
    restrictions::routes(routes);
    registration_tokens::routes(routes);
    rooms::routes(routes);
    room_delete::routes(routes);
    room_messages::routes(routes);
    purge_history::routes(routes);
    reports::routes(routes);
    devices::routes(routes);
    extremities::routes(routes);
    federation::routes(routes);
    info::routes(routes);
    acting::routes(routes);
    server_notices::routes(routes);
    threepids::routes(routes);
    // Before `media`: its `/media/{server_name}/{media_id}` would take `/media/protect/…`.
    media_bulk::routes(routes);
    media::routes(routes);
}

/// An authenticated server admin: `403 M_FORBIDDEN` for everyone else.
pub struct Admin(pub Sender);

impl FromRequest for Admin {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authed = Authed::from_request(req, payload);
        let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
        Box::pin(async move {
            let Authed(sender) = authed.await?;
            let state = state.ok_or_else(|| Error::internal("no app state"))?;
            if !is_admin(&state, sender.user_id.as_str())? {
                return Err(Error::forbidden("You are not a server admin"));
            }
            Ok(Admin(sender))
        })
    }
}

/// Whether the user is a server admin.
pub fn is_admin(state: &AppState, user_id: &str) -> Result<bool> {
    Ok(state.storage.users.get(user_id)?.is_some_and(|u| u.admin))
}

/// Records an admin's action in the audit trail.
pub async fn audited(
    state: &AppState,
    admin: &Admin,
    action: &str,
    target: Option<&str>,
) -> Result<()> {
    let event = crate::audit::Event::new(admin.0.user_id.as_str(), action, target);
    crate::audit::record(state, event).await.map(|_| ())
}
