//! Long admin operations run as durable background tasks (Synapse's task scheduler):
//! the task is stored before its work starts, its progress after every step, and a
//! server that stopped (or was killed) with tasks unfinished resumes them when it starts
//! again. Each operation is idempotent, so resuming one just runs it again.

use actix_web::web;
use citadel_storage::tasks::{Task, TaskStatus};
use serde_json::Value;

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::rooms::shutdown::{self, DeleteParams, ShutdownResult};

/// Deleting a room: shutdown, then (if asked) purge.
pub const SHUTDOWN_AND_PURGE_ROOM: &str = "shutdown_and_purge_room";

/// Purging a room's old history.
pub const PURGE_HISTORY: &str = "purge_history";

/// Redacting a user's events.
pub const REDACT_ALL_EVENTS: &str = "redact_all_events";

/// Stores a new task, durably, before anything of it runs.
pub async fn schedule(
    state: &AppState,
    action: &str,
    resource_id: &str,
    params: Value,
) -> Result<Task> {
    let task = Task {
        id: new_id(),
        action: action.to_owned(),
        resource_id: resource_id.to_owned(),
        status: TaskStatus::Scheduled,
        timestamp_ms: citadel_storage::now_ms(),
        params,
        result: None,
        error: None,
    };
    state.storage.tasks.put(&task)?;
    state.storage.flush().await?;
    Ok(task)
}

/// 16 random letters and digits, like Synapse's task IDs.
fn new_id() -> String {
    crate::auth::token::generate("")[..16].to_owned()
}

/// Runs the task in the background.
pub fn spawn(state: web::Data<AppState>, task: Task) {
    actix_web::rt::spawn(async move {
        let _ = run(&state, task).await;
    });
}

/// Resumes every task a previous run left unfinished, one after another.
pub fn resume_unfinished(state: web::Data<AppState>) {
    let pending: Vec<Task> = match state.storage.tasks.all() {
        Ok(tasks) => tasks
            .into_iter()
            .filter(|t| t.status.is_pending())
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the unfinished admin tasks");
            return;
        }
    };
    if pending.is_empty() {
        return;
    }
    tracing::info!(tasks = pending.len(), "resuming unfinished admin tasks");
    actix_web::rt::spawn(async move {
        for task in pending {
            let _ = run(&state, task).await;
        }
    });
}

/// Runs the task to its end and stores how it ended; returns it as stored, with the
/// error it failed with (for a caller that waits for it and answers with that error).
pub async fn run(state: &AppState, mut task: Task) -> Result<(Task, Option<Error>)> {
    task.status = TaskStatus::Active;
    task.timestamp_ms = citadel_storage::now_ms();
    state.storage.tasks.put(&task)?;
    let outcome = match task.action.as_str() {
        SHUTDOWN_AND_PURGE_ROOM => delete_room(state, &mut task).await,
        REDACT_ALL_EVENTS => redact_user(state, &mut task).await,
        PURGE_HISTORY => purge_history(state, &mut task).await,
        other => Err(Error::internal(format!("unknown task action {other:?}"))),
    };
    task.timestamp_ms = citadel_storage::now_ms();
    let failure = match outcome {
        Ok(()) => {
            task.status = TaskStatus::Complete;
            None
        }
        Err(e) => {
            tracing::warn!(task = %task.id, action = %task.action, error = %e, "admin task failed");
            task.status = TaskStatus::Failed;
            task.error = Some(e.message().to_owned());
            Some(e)
        }
    };
    state.storage.tasks.put(&task)?;
    state.storage.flush().await?;
    Ok((task, failure))
}

/// The task of that action with that ID.
pub fn get(state: &AppState, id: &str, action: &str) -> Result<Option<Task>> {
    Ok(state.storage.tasks.get(id)?.filter(|t| t.action == action))
}

async fn delete_room(state: &AppState, task: &mut Task) -> Result<()> {
    let params: DeleteParams =
        serde_json::from_value(task.params.clone()).map_err(Error::internal)?;
    let room_id =
        ruma::OwnedRoomId::try_from(task.resource_id.as_str()).map_err(Error::internal)?;
    let mut result: ShutdownResult = match &task.result {
        Some(value) => serde_json::from_value(value.clone()).map_err(Error::internal)?,
        None => ShutdownResult::default(),
    };
    let tasks = &state.storage.tasks;
    let mut progress = |result: &ShutdownResult| -> Result<()> {
        task.result = Some(serde_json::to_value(result).map_err(Error::internal)?);
        task.timestamp_ms = citadel_storage::now_ms();
        tasks.put(task)?;
        Ok(())
    };
    shutdown::shutdown(state, &room_id, &params, &mut result, &mut progress).await?;
    progress(&result)?;
    if params.purge {
        match shutdown::purge(state, &room_id, params.force_purge).await {
            // A room blocked before this server knew it has nothing to purge.
            Err(e) if params.block && e.errcode() == "M_NOT_FOUND" => {}
            other => other?,
        }
    }
    Ok(())
}

async fn redact_user(state: &AppState, task: &mut Task) -> Result<()> {
    let params: crate::rooms::redact_user::RedactParams =
        serde_json::from_value(task.params.clone()).map_err(Error::internal)?;
    let mut failed: std::collections::BTreeMap<String, String> = task
        .result
        .as_ref()
        .and_then(|r| serde_json::from_value(r["failed_redactions"].clone()).ok())
        .unwrap_or_default();
    let tasks = &state.storage.tasks;
    let mut progress = |failed: &std::collections::BTreeMap<String, String>| -> Result<()> {
        task.result = Some(serde_json::json!({ "failed_redactions": failed }));
        task.timestamp_ms = citadel_storage::now_ms();
        tasks.put(task)?;
        Ok(())
    };
    progress(&failed)?;
    crate::rooms::redact_user::redact_user_events(state, &params, &mut failed, &mut progress).await
}

async fn purge_history(state: &AppState, task: &mut Task) -> Result<()> {
    let params: crate::rooms::purge_history::PurgeHistoryParams =
        serde_json::from_value(task.params.clone()).map_err(Error::internal)?;
    let room_id =
        ruma::OwnedRoomId::try_from(task.resource_id.as_str()).map_err(Error::internal)?;
    let room = crate::rooms::RoomCtx::require(&state.storage, &room_id)?;
    let deleted = crate::rooms::purge_history::purge_history(state, &room, &params).await?;
    task.result = Some(serde_json::json!({ "deleted_events": deleted }));
    Ok(())
}
