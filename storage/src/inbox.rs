//! Transactions other servers sent (`PUT /_matrix/federation/v1/send/{txnId}`), so that a
//! retried transaction is answered with the first answer instead of being processed twice.
//!
//! Trees:
//! - `origintxn_response`: `(origin, txn_id)` → the JSON response that was sent.

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, encode, get};

#[derive(Clone)]
pub struct Inbox {
    responses: Tree,
}

impl Inbox {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            responses: engine.tree("origintxn_response")?,
        })
    }

    pub fn response(&self, origin: &str, txn_id: &str) -> Result<Option<serde_json::Value>> {
        get(&self.responses, &key((origin, txn_id)))
    }

    pub fn put_response(
        &self,
        origin: &str,
        txn_id: &str,
        response: &serde_json::Value,
    ) -> Result<()> {
        self.responses
            .insert(&key((origin, txn_id)), &encode(response))
    }
}
