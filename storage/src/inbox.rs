//! Transactions other servers sent (`PUT /_matrix/federation/v1/send/{txnId}`), so that a
//! retried transaction is answered with the first answer instead of being processed twice.
//!
//! A remembered answer counts for a day, as in Synapse: a sender retries within minutes,
//! while a server that was reset or restored may reuse old IDs for new transactions, which
//! must then be read rather than dropped as repeats.
//!
//! Trees:
//! - `origintxn_response`: `(origin, txn_id)` → [`Answer`] (older records: the bare JSON
//!   response, read as answered long ago).

use serde::{Deserialize, Serialize};

use crate::codec::key;
use crate::engine::{Engine, Tree};
use crate::{Result, decode, encode, now_ms};

/// How long an answered transaction ID counts as a retransmission.
pub const REMEMBERED_FOR_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    Answer(Answer),
    Legacy(serde_json::Value),
}

#[derive(Serialize, Deserialize)]
struct Answer {
    answered_ts: u64,
    response: serde_json::Value,
}

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

    /// The answer given to this transaction, if it was answered within the last day.
    pub fn response(&self, origin: &str, txn_id: &str) -> Result<Option<serde_json::Value>> {
        self.response_at(origin, txn_id, now_ms())
    }

    fn response_at(
        &self,
        origin: &str,
        txn_id: &str,
        now: u64,
    ) -> Result<Option<serde_json::Value>> {
        let Some(bytes) = self.responses.get(&key((origin, txn_id)))? else {
            return Ok(None);
        };
        Ok(match decode::<Record>(&bytes)? {
            Record::Answer(answer)
                if now.saturating_sub(answer.answered_ts) < REMEMBERED_FOR_MS =>
            {
                Some(answer.response)
            }
            _ => None,
        })
    }

    pub fn put_response(
        &self,
        origin: &str,
        txn_id: &str,
        response: &serde_json::Value,
    ) -> Result<()> {
        self.put_response_at(origin, txn_id, response, now_ms())
    }

    fn put_response_at(
        &self,
        origin: &str,
        txn_id: &str,
        response: &serde_json::Value,
        now: u64,
    ) -> Result<()> {
        let record = Record::Answer(Answer {
            answered_ts: now,
            response: response.clone(),
        });
        self.responses
            .insert(&key((origin, txn_id)), &encode(&record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_counts_for_a_day_and_old_records_not_at_all() {
        let (_dir, s) = crate::test_storage();
        let answer = serde_json::json!({"pdus": {"$e": {}}});
        let t = 1_700_000_000_000;
        s.inbox.put_response_at("b.test", "7", &answer, t).unwrap();
        assert_eq!(
            s.inbox.response_at("b.test", "7", t + 1000).unwrap(),
            Some(answer.clone())
        );
        assert_eq!(s.inbox.response_at("c.test", "7", t).unwrap(), None);
        assert_eq!(
            s.inbox
                .response_at("b.test", "7", t + REMEMBERED_FOR_MS)
                .unwrap(),
            None
        );
        // A record written before answers carried their time.
        s.inbox
            .responses
            .insert(&key(("b.test", "8")), &encode(&answer))
            .unwrap();
        assert_eq!(s.inbox.response_at("b.test", "8", t).unwrap(), None);
    }
}
