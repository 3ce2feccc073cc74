//! `GET /_matrix/client/v3/sync`: the HTTP side of `/sync` v3 (query, presence, the
//! long-poll loop); the response is built in `sync::v3`.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::api::Routes;
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::sync::v3::{DEFAULT_TIMELINE_LIMIT, MAX_TIMEOUT_MS, Options, build, load_filter};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/v3/sync", sync)
        .raw(Method::GET, "/_matrix/client/r0/sync", sync);
}

#[derive(Deserialize)]
struct SyncQuery {
    since: Option<String>,
    timeout: Option<u64>,
    #[serde(default)]
    full_state: bool,
    filter: Option<String>,
    set_presence: Option<String>,
}

/// `GET /_matrix/client/v3/sync`
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %sender.user_id))]
async fn sync(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let query: SyncQuery = serde_html_form_query(&req)?;
    let since = query.since.as_deref().map(parse_token).transpose()?;
    // `s<n>_<m>`: to-device messages below `m` were delivered (fewer than everything
    // below `n` when a batch was cut short); below `n` otherwise.
    let to_device_since = query.since.as_deref().map(|t| {
        t.split_once('_')
            .and_then(|(_, m)| m.parse::<u64>().ok())
            .or(since)
            .unwrap_or(0)
    });
    if let Some(acknowledged) = to_device_since {
        let mut batch = state.storage.batch();
        if state.storage.to_device.acknowledge(
            &mut batch,
            sender.user_id.as_str(),
            sender.device_id.as_str(),
            acknowledged,
        )? > 0
        {
            state.storage.commit(batch).await?;
        }
    }
    let filter = load_filter(&state, sender.user_id.as_str(), query.filter.as_deref())?;
    let options = Options {
        device_id: sender.device_id.to_string(),
        to_device_since,
        since,
        full_state: query.full_state,
        timeline_limit: filter["room"]["timeline"]["limit"]
            .as_u64()
            .map_or(DEFAULT_TIMELINE_LIMIT, |n| n.min(500) as usize),
        lazy_load_members: filter["room"]["state"]["lazy_load_members"] == true,
        include_redundant_members: filter["room"]["state"]["include_redundant_members"] == true,
        unread_thread_notifications: filter["room"]["timeline"]["unread_thread_notifications"]
            == true,
        filter: crate::sync::filter::SyncFilter::from_value(&filter),
        federation_format: filter["event_format"] == "federation",
        cache_key: since.is_none().then(|| {
            crate::sync::cache::key(
                sender.user_id.as_str(),
                sender.device_id.as_str(),
                query.filter.as_deref(),
            )
        }),
    };
    if options.since.is_none() {
        // The client starts afresh: whatever lazy-loaded members it was sent are gone.
        state
            .lazy_members_cache
            .reset(sender.user_id.as_str(), sender.device_id.as_str());
    }
    let timeout = Duration::from_millis(query.timeout.unwrap_or(0).min(MAX_TIMEOUT_MS));
    let deadline = Instant::now() + timeout;
    // Syncing marks the user online unless the client says otherwise.
    let presence = match query.set_presence.as_deref() {
        None | Some("online") => Some(ruma::presence::PresenceState::Online),
        Some("unavailable") => Some(ruma::presence::PresenceState::Unavailable),
        Some("offline") => None,
        Some(_) => {
            return Err(Error::invalid_param(
                "set_presence must be online, offline or unavailable",
            ));
        }
    };
    if let Some(presence) = presence {
        crate::presence::update(&state, sender.user_id.as_str(), presence, None)?;
    }
    let mut wake = state.notifier.subscribe(sender.user_id.as_str());
    loop {
        let next = state.stream.safe_upto(&state.storage)? + 1;
        let (body, has_news) = build(&state, sender.user_id.as_str(), &options, next)?;
        let now = Instant::now();
        if since.is_none()
            || has_news
            || options.full_state
            || now >= deadline
            || state.notifier.is_closing()
        {
            return Ok(HttpResponse::Ok().json(body));
        }
        // Nothing yet: wait for a commit that concerns this user, or the timeout.
        let _waiting = state.metrics.waiting("v3");
        if tokio::time::timeout(deadline - now, wake.changed())
            .await
            .is_err()
        {
            let next = state.stream.safe_upto(&state.storage)? + 1;
            return Ok(
                HttpResponse::Ok().json(build(&state, sender.user_id.as_str(), &options, next)?.0)
            );
        }
    }
}

fn serde_html_form_query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Error::invalid_param(format!("Invalid query parameters: {e}")))
}
