//! Push rules (`/pushrules/…`), notifications (`/notifications`) and pushers
//! (`/pushers`, `/pushers/set`).

use actix_web::http::StatusCode;
use actix_web::web;
use ruma::api::client::push::{
    delete_pushrule, get_notifications, get_pushers, get_pushrule, get_pushrule_actions,
    get_pushrule_enabled, get_pushrules_all, get_pushrules_global_scope, set_pusher, set_pushrule,
    set_pushrule_actions, set_pushrule_enabled,
};
use ruma::push::{InsertPushRuleError, RemovePushRuleError};
use ruma::serde::Raw;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt};

use crate::push::read::read_upto;
use serde_json::value::RawValue;

use crate::api::Routes;
use crate::api::client::message::parse_token;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::push::rules::{load, save};

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .ruma(get_pushrules_all)
        .ruma(get_pushrules_global_scope)
        .raw(
            actix_web::http::Method::GET,
            "/_matrix/client/v3/pushrules/global/{kind}/",
            get_pushrules_of_kind,
        )
        .raw(
            actix_web::http::Method::GET,
            "/_matrix/client/r0/pushrules/global/{kind}/",
            get_pushrules_of_kind,
        )
        .ruma(get_pushrule)
        .ruma(set_pushrule)
        .ruma(delete_pushrule)
        .ruma(get_pushrule_enabled)
        .ruma(set_pushrule_enabled)
        .ruma(get_pushrule_actions)
        .ruma(set_pushrule_actions)
        .ruma(get_notifications)
        .ruma(get_pushers)
        .ruma(set_pusher);
}

fn not_found() -> Error {
    Error::not_found("Push rule not found")
}

/// `GET /_matrix/client/v3/pushrules/`
async fn get_pushrules_all(
    state: web::Data<AppState>,
    req: Ruma<get_pushrules_all::v3::Request>,
) -> Result<get_pushrules_all::v3::Response> {
    Ok(get_pushrules_all::v3::Response::new(load(
        &state,
        &req.sender()?.user_id,
    )?))
}

/// `GET /_matrix/client/v3/pushrules/global/`
async fn get_pushrules_global_scope(
    state: web::Data<AppState>,
    req: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<get_pushrules_global_scope::v3::Response> {
    Ok(get_pushrules_global_scope::v3::Response::new(load(
        &state,
        &req.sender()?.user_id,
    )?))
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/`: one kind's rules, in order (not
/// in the spec's OpenAPI, but served by Synapse and used by older clients and SyTest).
async fn get_pushrules_of_kind(
    state: web::Data<AppState>,
    crate::api::extract::Authed(sender): crate::api::extract::Authed,
    kind: web::Path<String>,
) -> Result<actix_web::HttpResponse> {
    const KINDS: [&str; 5] = ["override", "content", "room", "sender", "underride"];
    if !KINDS.contains(&kind.as_str()) {
        return Err(Error::unrecognized(StatusCode::BAD_REQUEST));
    }
    let rules = serde_json::to_value(load(&state, &sender.user_id)?).map_err(Error::internal)?;
    let of_kind = rules
        .get(kind.as_str())
        .cloned()
        .unwrap_or_else(|| serde_json::json!([]));
    Ok(actix_web::HttpResponse::Ok().json(of_kind))
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn get_pushrule(
    state: web::Data<AppState>,
    req: Ruma<get_pushrule::v3::Request>,
) -> Result<get_pushrule::v3::Response> {
    let rules = load(&state, &req.sender()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?;
    Ok(get_pushrule::v3::Response::new(rule.to_owned().into()))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn set_pushrule(
    state: web::Data<AppState>,
    req: Ruma<set_pushrule::v3::Request>,
) -> Result<set_pushrule::v3::Response> {
    let user = req.sender()?.user_id.clone();
    check_actions(new_rule_actions(&req.body.rule))?;
    let mut rules = load(&state, &user)?;
    rules
        .insert(
            req.body.rule.clone(),
            req.body.after.as_deref(),
            req.body.before.as_deref(),
        )
        .map_err(|e| match e {
            InsertPushRuleError::UnknownRuleId => {
                Error::not_found("The before or after rule does not exist")
            }
            other => Error::invalid_param(other.to_string()),
        })?;
    save(&state, &user, &rules).await?;
    Ok(set_pushrule::v3::Response::new())
}

fn new_rule_actions(rule: &ruma::push::NewPushRule) -> &[ruma::push::Action] {
    use ruma::push::NewPushRule;
    match rule {
        NewPushRule::Override(r) | NewPushRule::Underride(r) => &r.actions,
        NewPushRule::Content(r) => &r.actions,
        NewPushRule::Room(r) => &r.actions,
        NewPushRule::Sender(r) => &r.actions,
        _ => &[],
    }
}

/// Refuses actions the spec does not define (as Synapse does, so that a client probing
/// for an extension learns it is unsupported); the legacy `dont_notify` and `coalesce`
/// are still accepted and do nothing.
fn check_actions(actions: &[ruma::push::Action]) -> Result<()> {
    for action in actions {
        let known = match serde_json::to_value(action).map_err(Error::internal)? {
            serde_json::Value::String(name) => {
                matches!(name.as_str(), "notify" | "dont_notify" | "coalesce")
            }
            serde_json::Value::Object(object) => object.contains_key("set_tweak"),
            _ => false,
        };
        if !known {
            return Err(Error::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                format!("Unrecognised push rule action {}", json_of(action)),
            ));
        }
    }
    Ok(())
}

fn json_of(action: &ruma::push::Action) -> String {
    serde_json::to_string(action).unwrap_or_default()
}

/// `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn delete_pushrule(
    state: web::Data<AppState>,
    req: Ruma<delete_pushrule::v3::Request>,
) -> Result<delete_pushrule::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let mut rules = load(&state, &user)?;
    rules
        .remove(req.body.kind.clone(), &req.body.rule_id)
        .map_err(|e| match e {
            RemovePushRuleError::NotFound => not_found(),
            other => Error::invalid_param(other.to_string()),
        })?;
    save(&state, &user, &rules).await?;
    Ok(delete_pushrule::v3::Response::new())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn get_pushrule_enabled(
    state: web::Data<AppState>,
    req: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<get_pushrule_enabled::v3::Response> {
    let rules = load(&state, &req.sender()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?;
    Ok(get_pushrule_enabled::v3::Response::new(rule.enabled()))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn set_pushrule_enabled(
    state: web::Data<AppState>,
    req: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<set_pushrule_enabled::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let mut rules = load(&state, &user)?;
    rules
        .set_enabled(req.body.kind.clone(), &req.body.rule_id, req.body.enabled)
        .map_err(|_| not_found())?;
    save(&state, &user, &rules).await?;
    Ok(set_pushrule_enabled::v3::Response::new())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn get_pushrule_actions(
    state: web::Data<AppState>,
    req: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<get_pushrule_actions::v3::Response> {
    let rules = load(&state, &req.sender()?.user_id)?;
    let rule = rules
        .get(req.body.kind.clone(), &req.body.rule_id)
        .ok_or_else(not_found)?;
    Ok(get_pushrule_actions::v3::Response::new(
        rule.actions().to_vec(),
    ))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn set_pushrule_actions(
    state: web::Data<AppState>,
    req: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<set_pushrule_actions::v3::Response> {
    check_actions(&req.body.actions)?;
    let user = req.sender()?.user_id.clone();
    let mut rules = load(&state, &user)?;
    rules
        .set_actions(
            req.body.kind.clone(),
            &req.body.rule_id,
            req.body.actions.clone(),
        )
        .map_err(|_| not_found())?;
    save(&state, &user, &rules).await?;
    Ok(set_pushrule_actions::v3::Response::new())
}

/// `GET /_matrix/client/v3/notifications`
async fn get_notifications(
    state: web::Data<AppState>,
    req: Ruma<get_notifications::v3::Request>,
) -> Result<get_notifications::v3::Response> {
    let user = req.sender()?.user_id.clone();
    let before = req
        .body
        .from
        .as_deref()
        .map(parse_token)
        .transpose()?
        .unwrap_or(u64::MAX);
    let limit = req
        .body
        .limit
        .map_or(20, |l| u64::from(l).clamp(1, 100) as usize);
    let highlights_only = req.body.only.as_deref() == Some("highlight");
    // Only members are notified: the user's rooms hold all of their notifications.
    let rooms: Vec<String> = state
        .storage
        .rooms
        .membership
        .rooms(user.as_str())?
        .into_iter()
        .map(|(room_id, _)| room_id)
        .collect();
    let mut out = Vec::new();
    let mut next_token = None;
    let mut cursor = before;
    'pages: loop {
        let page = state
            .storage
            .notifications
            .list(user.as_str(), &rooms, cursor, limit)?;
        if page.is_empty() {
            break;
        }
        for (count, room_id, notification) in page {
            cursor = count;
            if highlights_only && !notification.highlight {
                continue;
            }
            let Some(pdu) = crate::rooms::load_pdu(&state, &notification.event_id)? else {
                continue;
            };
            let read = read_upto(&state, &user, &room_id)? >= count;
            let event = Raw::from_json(
                RawValue::from_string(pdu.to_client_event(false).to_string())
                    .map_err(Error::internal)?,
            );
            let actions = serde_json::from_value(notification.actions.clone()).unwrap_or_default();
            let room_id = OwnedRoomId::try_from(room_id).map_err(Error::internal)?;
            let ts = MilliSecondsSinceUnixEpoch(UInt::new(notification.ts).unwrap_or_default());
            out.push(get_notifications::v3::Notification::new(
                actions, event, read, room_id, ts,
            ));
            if out.len() == limit {
                next_token = Some(format!("t{count}"));
                break 'pages;
            }
        }
    }
    let mut response = get_notifications::v3::Response::new(out);
    response.next_token = next_token;
    Ok(response)
}

/// `GET /_matrix/client/v3/pushers`
async fn get_pushers(
    state: web::Data<AppState>,
    req: Ruma<get_pushers::v3::Request>,
) -> Result<get_pushers::v3::Response> {
    let user = req.sender()?.user_id.as_str();
    let pushers = state
        .storage
        .notifications
        .pushers(Some(user))?
        .into_iter()
        .filter_map(|(_, raw)| serde_json::from_str(raw.get()).ok())
        .collect();
    Ok(get_pushers::v3::Response::new(pushers))
}

/// `POST /_matrix/client/v3/pushers/set`
async fn set_pusher(
    state: web::Data<AppState>,
    req: Ruma<set_pusher::v3::Request>,
) -> Result<set_pusher::v3::Response> {
    let user = req.sender()?.user_id.as_str().to_owned();
    match &req.body.action {
        set_pusher::v3::PusherAction::Delete(ids) => {
            state
                .storage
                .notifications
                .remove_pusher(&user, &ids.app_id, &ids.pushkey)?;
        }
        set_pusher::v3::PusherAction::Post(data) => {
            let pusher = &data.pusher;
            let mut json = serde_json::to_value(pusher).map_err(Error::internal)?;
            // The device it came from, so the pusher goes when the device does (as
            // Synapse: logging out, deleting the device, a password change).
            json["device_id"] = req.sender()?.device_id.as_str().into();
            // When the pushkey was set, in seconds: gateways get it with each push.
            json["pushkey_ts"] = (citadel_storage::now_ms() / 1000).into();
            if json["kind"] == "http" {
                let url = json["data"]["url"].as_str().unwrap_or_default();
                let parsed = reqwest::Url::parse(url)
                    .map_err(|_| Error::invalid_param("data.url is not a URL"))?;
                if parsed.path() != "/_matrix/push/v1/notify" {
                    return Err(Error::invalid_param(
                        "data.url must end with /_matrix/push/v1/notify",
                    ));
                }
            }
            if pusher.ids.app_id.len() > 64 || pusher.ids.pushkey.len() > 512 {
                return Err(Error::invalid_param("app_id or pushkey is too long"));
            }
            if !data.append {
                // One device registers once: other accounts' pushers for it go away.
                for (owner, raw) in state.storage.notifications.pushers(None)? {
                    let other: serde_json::Value =
                        serde_json::from_str(raw.get()).unwrap_or_default();
                    if owner != user
                        && other["app_id"] == pusher.ids.app_id.as_str()
                        && other["pushkey"] == pusher.ids.pushkey.as_str()
                    {
                        state.storage.notifications.remove_pusher(
                            &owner,
                            &pusher.ids.app_id,
                            &pusher.ids.pushkey,
                        )?;
                    }
                }
            }
            let raw = RawValue::from_string(json.to_string()).map_err(Error::internal)?;
            state.storage.notifications.put_pusher(
                &user,
                &pusher.ids.app_id,
                &pusher.ids.pushkey,
                &raw,
            )?;
        }
        _ => {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                "Unknown pusher action",
            ));
        }
    }
    state.storage.flush().await?;
    Ok(set_pusher::v3::Response::new())
}
