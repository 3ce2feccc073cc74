//! User directory search and content reports.

use actix_web::web;
use citadel_storage::now_ms;
use citadel_storage::reports::Report;
use ruma::OwnedUserId;
use ruma::api::client::room::report_content;
use ruma::api::client::user_directory::search_users;
use serde_json::Value;

use crate::api::Routes;
use crate::api::client::message::readable_until;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::visibility::Visibility;
use crate::rooms::{RoomCtx, load_pdu};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(search_users)
        .ruma(report_content)
        .ruma(report_room)
        .ruma(report_user);
}

/// `POST /_matrix/client/v3/user_directory/search`: users who share a room with the
/// searcher or sit in a published room, matched on user ID and display name.
async fn search_users(
    state: web::Data<AppState>,
    req: Ruma<search_users::v3::Request>,
) -> Result<search_users::v3::Response> {
    let me = req.sender()?.user_id.as_str();
    let term = req.body.search_term.to_lowercase();
    let limit = u64::from(req.body.limit).clamp(1, 100) as usize;

    let mut rooms: Vec<String> = state
        .storage
        .rooms
        .membership
        .rooms(me)?
        .into_iter()
        .filter(|(_, r)| r.membership == "join")
        .map(|(room, _)| room)
        .collect();
    rooms.extend(state.storage.rooms.directory.published()?);
    let mut candidates = std::collections::BTreeSet::new();
    for room in rooms {
        for (user, record) in state.storage.rooms.membership.members(&room)? {
            if record.membership == "join" {
                candidates.insert(user);
            }
        }
    }
    let mut results = Vec::new();
    let mut limited = false;
    for user in candidates {
        let profile = if user.ends_with(&format!(":{}", state.server_name())) {
            state.storage.users.profile(&user)?
        } else {
            Default::default()
        };
        let name = profile
            .get("displayname")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let matches = user.to_lowercase().contains(&term)
            || name
                .as_ref()
                .is_some_and(|n| n.to_lowercase().contains(&term));
        if !matches {
            continue;
        }
        if results.len() == limit {
            limited = true;
            break;
        }
        let Ok(user_id) = OwnedUserId::try_from(user) else {
            continue;
        };
        let mut entry = search_users::v3::User::new(user_id);
        entry.display_name = name;
        entry.avatar_url = profile
            .get("avatar_url")
            .and_then(Value::as_str)
            .map(Into::into);
        results.push(entry);
    }
    Ok(search_users::v3::Response::new(results, limited))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}`: stored for admins.
async fn report_content(
    state: web::Data<AppState>,
    req: Ruma<report_content::v3::Request>,
) -> Result<report_content::v3::Response> {
    let me = req.sender()?.user_id.as_str();
    let room = RoomCtx::require(&state.storage, &req.body.room_id)?;
    let not_found = || Error::not_found("Event not found");
    readable_until(&state, &room, me).map_err(|_| not_found())?;
    let pdu = load_pdu(&state, req.body.event_id.as_str())?.ok_or_else(not_found)?;
    if pdu.room_id != room.room_id || !Visibility::new(&state, &room, me)?.can_see(&pdu)? {
        return Err(not_found());
    }
    if req.body.reason.as_ref().is_some_and(|r| r.len() > 1000) {
        return Err(Error::invalid_param("The reason is longer than 1000 bytes"));
    }
    let report = Report {
        room_id: room.room_id.to_string(),
        event_id: pdu.event_id.to_string(),
        reporter: me.to_owned(),
        reason: req.body.reason.clone(),
        score: None,
        ts: now_ms(),
    };
    state
        .storage
        .reports
        .add(state.storage.next_id()?, &report)?;
    state.storage.flush().await?;
    tracing::info!(room_id = %room.room_id, event_id = %pdu.event_id, reporter = me, "content reported");
    Ok(report_content::v3::Response::new())
}

/// Reasons are kept to this many bytes.
const MAX_REASON: usize = 1000;

async fn store_subject_report(
    state: &AppState,
    kind: &str,
    target: &str,
    reporter: &str,
    reason: &str,
) -> Result<()> {
    if reason.len() > MAX_REASON {
        return Err(Error::invalid_param("The reason is longer than 1000 bytes"));
    }
    let report = citadel_storage::reports::SubjectReport {
        target: target.to_owned(),
        reporter: reporter.to_owned(),
        reason: reason.to_owned(),
        ts: now_ms(),
    };
    state
        .storage
        .reports
        .add_subject(kind, state.storage.next_id()?, &report)?;
    state.storage.flush().await?;
    tracing::info!(kind, target, reporter, "reported");
    Ok(())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report`: the reporter need not be in the room;
/// a room this server does not know is `404 M_NOT_FOUND`, as in Synapse.
async fn report_room(
    state: web::Data<AppState>,
    req: Ruma<ruma::api::client::room::report_room::v3::Request>,
) -> Result<ruma::api::client::room::report_room::v3::Response> {
    let me = req.sender()?.user_id.as_str();
    RoomCtx::load(&state.storage, &req.body.room_id)?
        .ok_or_else(|| Error::not_found("The room was not found."))?;
    store_subject_report(
        &state,
        "room",
        req.body.room_id.as_str(),
        me,
        &req.body.reason,
    )
    .await?;
    Ok(ruma::api::client::room::report_room::v3::Response::new())
}

/// `POST /_matrix/client/v3/users/{userId}/report`: users of this server must exist;
/// users of other servers are taken on trust.
async fn report_user(
    state: web::Data<AppState>,
    req: Ruma<ruma::api::client::reporting::report_user::v3::Request>,
) -> Result<ruma::api::client::reporting::report_user::v3::Response> {
    let me = req.sender()?.user_id.as_str();
    let target = req.body.user_id.as_str();
    if req.body.user_id.server_name().as_str() == state.server_name()
        && state.storage.users.get(target)?.is_none()
    {
        return Err(Error::not_found("The user was not found."));
    }
    store_subject_report(&state, "user", target, me, &req.body.reason).await?;
    Ok(ruma::api::client::reporting::report_user::v3::Response::new())
}
