//! The federation outbox: what each other server is still owed, in order, until it
//! acknowledges a transaction carrying it. Entries are written in the same batch as the
//! event they announce, so a crash can never store an event and forget to send it.
//!
//! Trees:
//! - `destination_outbox`: `(destination, seq u64)` → [`OutboxItem`]; `seq` comes from
//!   the engine's counter, so a destination's entries scan in the order they were queued.

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode};

/// One thing to deliver.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxItem {
    /// A room event, by ID (the event itself is in the timeline or the outliers).
    Pdu { event_id: String },
    /// An ephemeral event: `{"edu_type": …, "content": …}`.
    Edu { edu: serde_json::Value },
}

#[derive(Clone)]
pub struct Outbox {
    engine: Engine,
    queue: Tree,
}

impl Outbox {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            engine: engine.clone(),
            queue: engine.tree("destination_outbox")?,
        })
    }

    /// Queues an item for `destination` as part of `batch`.
    pub fn push(&self, batch: &mut Batch, destination: &str, item: &OutboxItem) -> Result<()> {
        let seq = self.engine.next_id()?;
        batch.insert(&self.queue, key((destination, seq)), encode(item));
        Ok(())
    }

    /// The oldest entries for `destination`: at most `max_pdus` PDUs and `max_edus` EDUs,
    /// stopping at the first entry that does not fit so that order is kept.
    pub fn peek(
        &self,
        destination: &str,
        max_pdus: usize,
        max_edus: usize,
    ) -> Result<Vec<(u64, OutboxItem)>> {
        let (mut pdus, mut edus) = (0, 0);
        let mut out = Vec::new();
        for entry in self.queue.scan_prefix(&key((destination,))) {
            let (k, v) = entry?;
            let mut reader = KeyReader::new(&k);
            reader.str().map_err(corrupt)?;
            let seq = reader.u64().map_err(corrupt)?;
            let item: OutboxItem = decode(&v)?;
            match item {
                OutboxItem::Pdu { .. } if pdus == max_pdus => break,
                OutboxItem::Edu { .. } if edus == max_edus => break,
                OutboxItem::Pdu { .. } => pdus += 1,
                OutboxItem::Edu { .. } => edus += 1,
            }
            out.push((seq, item));
        }
        Ok(out)
    }

    /// Removes delivered entries.
    pub fn remove(&self, batch: &mut Batch, destination: &str, seqs: &[u64]) {
        for seq in seqs {
            batch.remove(&self.queue, key((destination, *seq)));
        }
    }

    /// How many items each destination has queued.
    pub fn depths(&self) -> Result<Vec<(String, usize)>> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for entry in self.queue.scan_prefix(&[]) {
            let (k, _) = entry?;
            let name = KeyReader::new(&k).str().map_err(corrupt)?.to_owned();
            match out.last_mut() {
                Some((last, n)) if *last == name => *n += 1,
                _ => out.push((name, 1)),
            }
        }
        Ok(out)
    }

    /// How many items one destination has queued.
    pub fn depth(&self, destination: &str) -> Result<usize> {
        Ok(self.queue.scan_prefix(&key((destination,))).count())
    }

    /// Every destination with something queued (to resume delivery after a restart).
    pub fn destinations(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for entry in self.queue.scan_prefix(&[]) {
            let (k, _) = entry?;
            let name = KeyReader::new(&k).str().map_err(corrupt)?.to_owned();
            if out.last() != Some(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_within_the_limits() {
        let (_dir, s) = crate::test_storage();
        let mut batch = s.batch();
        for i in 0..5 {
            let pdu = OutboxItem::Pdu {
                event_id: format!("$e{i}"),
            };
            s.outbox.push(&mut batch, "b.test", &pdu).unwrap();
            let edu = OutboxItem::Edu {
                edu: serde_json::json!({"edu_type": "m.typing", "n": i}),
            };
            s.outbox.push(&mut batch, "b.test", &edu).unwrap();
        }
        let other = OutboxItem::Pdu {
            event_id: "$x".into(),
        };
        s.outbox.push(&mut batch, "c.test", &other).unwrap();
        s.apply(batch).unwrap();

        let first = s.outbox.peek("b.test", 2, 100).unwrap();
        // PDU, EDU, PDU, EDU, then the third PDU does not fit.
        assert_eq!(first.len(), 4);
        assert_eq!(
            first[0].1,
            OutboxItem::Pdu {
                event_id: "$e0".into()
            }
        );
        assert_eq!(
            s.outbox.destinations().unwrap(),
            vec!["b.test".to_owned(), "c.test".to_owned()]
        );
        let mut batch = s.batch();
        let seqs: Vec<u64> = first.iter().map(|(s, _)| *s).collect();
        s.outbox.remove(&mut batch, "b.test", &seqs);
        s.apply(batch).unwrap();
        let rest = s.outbox.peek("b.test", 50, 100).unwrap();
        assert_eq!(rest.len(), 6);
        assert_eq!(
            rest[0].1,
            OutboxItem::Pdu {
                event_id: "$e2".into()
            }
        );
    }
}
