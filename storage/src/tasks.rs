//! Long admin operations (room deletion, history purges, user redaction) as durable
//! tasks: a task is written before any of its work starts and updated as it goes, so
//! a server killed mid-way finds it at the next start and finishes it.
//!
//! Trees:
//! - `taskid_task`: `(task id)` → [`Task`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting to be started.
    Scheduled,
    /// Running (or interrupted while running: resumed at the next start).
    Active,
    Complete,
    Failed,
}

impl TaskStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    /// Whether the task still has work to do.
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Scheduled | Self::Active)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub id: String,
    /// What it does (`shutdown_and_purge_room`, `purge_history`, `redact_all_events`).
    pub action: String,
    /// What it acts on (a room or user ID).
    pub resource_id: String,
    pub status: TaskStatus,
    /// When it was created or last changed, in milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// Its parameters, as given.
    pub params: Value,
    /// What it has done so far.
    pub result: Option<Value>,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Tasks {
    tasks: Tree,
}

impl Tasks {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            tasks: engine.tree("taskid_task")?,
        })
    }

    /// Stores the task (new or updated); make it durable with `Storage::flush`.
    pub fn put(&self, task: &Task) -> Result<()> {
        self.tasks.insert(&key((task.id.as_str(),)), &encode(task))
    }

    pub fn get(&self, id: &str) -> Result<Option<Task>> {
        get(&self.tasks, &key((id,)))
    }

    /// Every task, in no particular order.
    pub fn all(&self) -> Result<Vec<Task>> {
        self.tasks
            .scan_prefix(&[])
            .map(|entry| decode(&entry?.1))
            .collect()
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        self.tasks.take(&key((id,))).map(|_| ())
    }
}
