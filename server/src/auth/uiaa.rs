//! User-interactive authentication (client-server API, "User-interactive authentication
//! API").
//!
//! An operation declares its flows. The first request without `auth` gets 401 with the
//! flows, params and a new session; each request with `auth` completes one stage of that
//! session; once every stage of some flow is complete the operation proceeds. A session
//! is bound to the operation, the user that started it and what the operation acts on,
//! so completed stages cannot be replayed against a different operation, account or
//! device.

use actix_web::http::StatusCode;
use citadel_storage::now_ms;
use citadel_storage::uiaa::UiaaSession;
use ruma::api::client::uiaa::{AuthData, UserIdentifier};
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::auth::token;

pub const PASSWORD: &str = "m.login.password";
pub const DUMMY: &str = "m.login.dummy";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// What an operation requires.
pub struct Requirement<'a> {
    /// Names the operation; a session cannot move between operations.
    pub operation: &'static str,
    /// The logged-in user performing it, if any; password stages must prove this user.
    pub user_id: Option<&'a str>,
    /// What the operation acts on, when that matters (the devices to delete): the whole
    /// session is bound to it, as to the operation. Empty otherwise.
    pub target: String,
    /// Alternative lists of stages; completing any one list authorises the operation.
    pub flows: Vec<Vec<&'static str>>,
    /// Parameters of the operation to keep in the session (see
    /// `UiaaSession::remembered`); a session that has them outlives its last stage.
    pub remember: Option<Value>,
}

/// Runs one step of user-interactive auth. Returns the finished session once a flow is
/// complete; otherwise the 401 challenge (or the error of a failed stage) as `Err`.
pub async fn authorize(
    state: &AppState,
    need: &Requirement<'_>,
    auth: Option<&AuthData>,
) -> Result<UiaaSession> {
    let Some(auth) = auth else {
        let (id, session) = new_session(state, need)?;
        return Err(challenge(need, &id, &session, None));
    };
    let (session_id, mut session) = match auth.session() {
        Some(id) => {
            let mut session = load_session(state, need, id)?;
            if session.remembered.is_none() {
                session.remembered = need.remember.clone();
            }
            (id.to_owned(), session)
        }
        // Clients may skip the initial empty request and send a stage straight away.
        None => new_session(state, need)?,
    };

    let stage = auth
        .auth_type()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    if !need.flows.iter().any(|flow| flow.contains(&stage.as_str())) {
        return Err(challenge(
            need,
            &session_id,
            &session,
            Some(Error::new(
                StatusCode::BAD_REQUEST,
                "M_UNRECOGNIZED",
                format!("Unrecognised auth type {stage:?}"),
            )),
        ));
    }
    // Authenticating as someone else than the requester is no failed attempt to retry
    // but a refusal (a plain 403, as from Synapse): a stolen access token plus the
    // thief's own password must not pass.
    if let (AuthData::Password(p), Some(expected)) = (auth, need.user_id)
        && let UserIdentifier::Matrix(id) = &p.identifier
        && !names_user(id.user.as_str(), expected, state.server_name())
    {
        return Err(Error::forbidden(
            "The authenticated user is not the one making the request",
        ));
    }
    if let Err(failure) = complete_stage(state, need, auth, &mut session).await {
        return Err(challenge(need, &session_id, &session, Some(failure)));
    }
    if !session.completed.iter().any(|s| s == &stage) {
        session.completed.push(stage);
    }

    let done = need.flows.iter().any(|flow| {
        flow.iter()
            .all(|s| session.completed.iter().any(|c| c == s))
    });
    if done {
        if need.remember.is_some() && auth.session().is_some() {
            // Kept for the caller to record the outcome in (see `Requirement::remember`).
            state.storage.uiaa.put(&session_id, &session)?;
        } else {
            state.storage.uiaa.remove(&session_id)?;
        }
        Ok(session)
    } else {
        state.storage.uiaa.put(&session_id, &session)?;
        Err(challenge(need, &session_id, &session, None))
    }
}

fn new_session(state: &AppState, need: &Requirement<'_>) -> Result<(String, UiaaSession)> {
    let id = token::generate("");
    let session = UiaaSession {
        operation: need.operation.to_owned(),
        user_id: need.user_id.map(str::to_owned),
        target: need.target.clone(),
        completed: Vec::new(),
        registration_token: None,
        created_ts: now_ms(),
        remembered: need.remember.clone(),
        registered_user: None,
    };
    state.storage.uiaa.put(&id, &session)?;
    Ok((id, session))
}

/// A registration session, if `id` names one that has not expired.
pub fn registration_session(state: &AppState, id: &str) -> Result<Option<UiaaSession>> {
    Ok(state
        .storage
        .uiaa
        .get(id)?
        .filter(|s| s.operation == "register" && !expired(state, s)))
}

fn expired(state: &AppState, session: &UiaaSession) -> bool {
    now_ms().saturating_sub(session.created_ts) > state.config.auth.uiaa_session_lifetime_ms
}

fn load_session(state: &AppState, need: &Requirement<'_>, id: &str) -> Result<UiaaSession> {
    let unknown = || {
        Error::new(
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
            "Unknown or expired session ID",
        )
    };
    let session = state.storage.uiaa.get(id)?.ok_or_else(unknown)?;
    if expired(state, &session) {
        state.storage.uiaa.remove(id)?;
        return Err(unknown());
    }
    if session.operation != need.operation
        || session.user_id.as_deref() != need.user_id
        || session.target != need.target
    {
        return Err(Error::forbidden(
            "Requested operation has changed during the UI authentication session",
        ));
    }
    Ok(session)
}

async fn complete_stage(
    state: &AppState,
    need: &Requirement<'_>,
    auth: &AuthData,
    session: &mut UiaaSession,
) -> Result<()> {
    match auth {
        AuthData::Dummy(_) => Ok(()),
        AuthData::Password(p) => {
            let invalid = || Error::forbidden("Invalid username or password");
            let Some(expected) = need.user_id else {
                return Err(invalid());
            };
            let claimed = match &p.identifier {
                UserIdentifier::Matrix(id) => id.user.as_str(),
                _ => return Err(invalid()),
            };
            if !names_user(claimed, expected, state.server_name()) {
                return Err(invalid());
            }
            state.failed_login_limiter.peek(expected)?;
            let Some(hash) = state
                .storage
                .users
                .get(expected)?
                .and_then(|u| u.password_hash)
            else {
                return Err(invalid());
            };
            if state.hasher.verify(hash, p.password.clone()).await? {
                Ok(())
            } else {
                state.failed_login_limiter.record(expected);
                Err(invalid())
            }
        }
        AuthData::RegistrationToken(t) => {
            let valid = state
                .storage
                .registration_tokens
                .get(&t.token)?
                .is_some_and(|r| r.is_valid(now_ms()));
            if !valid {
                return Err(Error::new(
                    StatusCode::UNAUTHORIZED,
                    "M_UNAUTHORIZED",
                    "Invalid registration token",
                ));
            }
            session.registration_token = Some(t.token.clone());
            Ok(())
        }
        _ => Err(Error::new(
            StatusCode::BAD_REQUEST,
            "M_UNRECOGNIZED",
            "Unsupported auth type",
        )),
    }
}

/// Whether a login identifier (`alice` or `@alice:server`) names `user_id`.
pub fn names_user(claimed: &str, user_id: &str, server_name: &str) -> bool {
    if claimed.starts_with('@') {
        claimed.eq_ignore_ascii_case(user_id)
    } else {
        format!("@{}:{server_name}", claimed.to_ascii_lowercase()) == user_id
    }
}

/// The 401 body: flows, params, session, completed stages, and the failed stage's error.
fn challenge(
    need: &Requirement<'_>,
    session_id: &str,
    session: &UiaaSession,
    failure: Option<Error>,
) -> Error {
    let mut body = json!({
        "flows": need.flows.iter().map(|stages| json!({"stages": stages})).collect::<Vec<_>>(),
        "params": {},
        "session": session_id,
    });
    // After an attempt, `completed` is always there (empty when nothing passed yet), as
    // Synapse sends it and clients and SyTest look for it.
    if !session.completed.is_empty() || failure.is_some() {
        body["completed"] = json!(session.completed);
    }
    match failure {
        // A stage that failed on its merits keeps the UIAA body so the client can retry.
        Some(Error::Matrix {
            status,
            errcode,
            message,
            ..
        }) if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => {
            body["errcode"] = Value::from(errcode);
            body["error"] = Value::from(message);
            Error::Uiaa(body)
        }
        Some(other) => other,
        None => Error::Uiaa(body),
    }
}
