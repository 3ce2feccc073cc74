//! User-interactive authentication sessions.
//!
//! Tree `sessionid_uiaa`: `(session_id)` → [`UiaaSession`]. Sessions are short-lived;
//! the server drops expired ones when it reads them.

use serde::{Deserialize, Serialize};

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, encode, get};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UiaaSession {
    /// Which operation the session authorises (`register`, `delete_devices` …): a session
    /// started for one operation cannot be replayed for another.
    pub operation: String,
    /// The user the session belongs to, for operations by a logged-in user.
    pub user_id: Option<String>,
    /// What exactly the operation acts on (the devices to delete …): a session started
    /// for one device cannot delete another. Empty for operations with no such target.
    #[serde(default)]
    pub target: String,
    /// Stages completed so far, in order.
    pub completed: Vec<String>,
    /// The registration token accepted in this session, consumed when registration completes.
    pub registration_token: Option<String>,
    pub created_ts: u64,
    /// Registration: what the first request asked for (the name, the password's hash…),
    /// so that later steps may send only `auth`, as Synapse allows.
    #[serde(default)]
    pub remembered: Option<serde_json::Value>,
    /// Registration: the account the finished session created, so that a retried last
    /// step (the response was lost) gets that account again rather than an error.
    #[serde(default)]
    pub registered_user: Option<String>,
}

#[derive(Clone)]
pub struct UiaaSessions {
    sessions: Tree,
}

impl UiaaSessions {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            sessions: engine.tree("sessionid_uiaa")?,
        })
    }

    pub fn get(&self, session_id: &str) -> Result<Option<UiaaSession>> {
        get(&self.sessions, &key((session_id,)))
    }

    pub fn put(&self, session_id: &str, session: &UiaaSession) -> Result<()> {
        self.sessions.insert(&key((session_id,)), &encode(session))
    }

    pub fn remove(&self, session_id: &str) -> Result<()> {
        self.sessions.take(&key((session_id,))).map(|_| ())
    }
}
