//! The durable per-destination queue: everything another server is owed is in the
//! storage outbox (written together with what it announces); one task per destination
//! sends it as `PUT /_matrix/federation/v1/send/{txnId}` transactions, one at a time, in
//! order, and removes what the destination acknowledged. Failures back off exponentially
//! up to a cap; hearing from the destination again retries at once. After a restart the
//! outbox is simply read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use citadel_storage::Storage;
use citadel_storage::outbox::OutboxItem;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::client::FederationClient;

/// At most this many PDUs and EDUs go in one transaction (the spec's limits).
pub const MAX_PDUS: usize = 50;
pub const MAX_EDUS: usize = 100;

#[derive(Clone, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

/// Wakes the delivery tasks. Cheap to call from any thread.
pub struct Sender {
    commands: mpsc::UnboundedSender<Command>,
    /// How delivery to each destination has gone since the start.
    health: Arc<Mutex<HashMap<String, Health>>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

enum Command {
    /// Something new is queued for this destination.
    Queued(String),
    /// The destination is evidently up (it just talked to us): retry now.
    Alive(String),
}

#[derive(Default)]
struct Signals {
    queued: Notify,
    alive: Notify,
}

impl Sender {
    /// Starts the dispatcher on the current tokio runtime and resumes delivery of whatever
    /// the outbox still holds.
    pub fn start(storage: Storage, client: Arc<FederationClient>, backoff: Backoff) -> Self {
        let (commands, mut receiver) = mpsc::unbounded_channel::<Command>();
        let (stop, stop_rx) = watch::channel(false);
        let txn_prefix: Arc<str> = random_prefix().into();
        let health: Arc<Mutex<HashMap<String, Health>>> = Arc::default();
        let health_of_tasks = Arc::clone(&health);
        let pending = storage.outbox.destinations().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the federation outbox");
            Vec::new()
        });
        for destination in pending {
            let _ = commands.send(Command::Queued(destination));
        }
        let dispatcher = tokio::spawn(async move {
            let mut signals: HashMap<String, Arc<Signals>> = HashMap::new();
            let mut stop_dispatch = stop_rx.clone();
            loop {
                let command = tokio::select! {
                    command = receiver.recv() => command,
                    _ = stop_dispatch.changed() => None,
                };
                let Some(command) = command else { break };
                let (destination, alive) = match command {
                    Command::Queued(d) => (d, false),
                    Command::Alive(d) => (d, true),
                };
                let entry = signals.entry(destination.clone()).or_insert_with(|| {
                    let signals = Arc::new(Signals::default());
                    tokio::spawn(deliver(
                        destination,
                        Arc::clone(&txn_prefix),
                        Arc::clone(&health_of_tasks),
                        storage.clone(),
                        Arc::clone(&client),
                        backoff.clone(),
                        Arc::clone(&signals),
                        stop_rx.clone(),
                    ));
                    signals
                });
                if alive {
                    entry.alive.notify_one();
                } else {
                    entry.queued.notify_one();
                }
            }
        });
        Self {
            commands,
            health,
            stop,
            tasks: Mutex::new(vec![dispatcher]),
        }
    }

    /// Failed transactions per destination since the start.
    pub fn failures(&self) -> Vec<(String, u64)> {
        self.health()
            .into_iter()
            .map(|(d, h)| (d, h.failures))
            .collect()
    }

    /// How delivery to each destination has gone since the start.
    pub fn health(&self) -> Vec<(String, Health)> {
        match self.health.lock() {
            Ok(h) => h.iter().map(|(d, h)| (d.clone(), h.clone())).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Something was queued for `destination`.
    pub fn wake(&self, destination: &str) {
        let _ = self.commands.send(Command::Queued(destination.to_owned()));
    }

    /// `destination` just sent us a request: if it was backing off, retry now.
    pub fn heard_from(&self, destination: &str) {
        let _ = self.commands.send(Command::Alive(destination.to_owned()));
    }

    /// Stops every task; what is queued stays in the outbox for the next start.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// How delivery to one destination has gone since the start.
#[derive(Clone, Debug, Default)]
pub struct Health {
    pub failures: u64,
    /// When the current run of failures began (`None`: the last attempt worked).
    pub failing_since_ts: Option<u64>,
    pub last_attempt_ts: Option<u64>,
    pub last_success_ts: Option<u64>,
    /// The wait before the next attempt, while failing.
    pub retry_interval_ms: u64,
}

/// Eight random letters and digits (~47 bits): the prefix of this run's transaction IDs.
fn random_prefix() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(8)
        .map(char::from)
        .collect()
}

/// A transaction being delivered: retried with this same ID and body until the
/// destination acknowledges it.
struct InFlight {
    txn_id: String,
    seqs: Vec<u64>,
    /// The outbox positions of its PDUs (the rest are EDUs).
    pdu_seqs: Vec<u64>,
    body: Value,
    /// How many times the destination answered it with an error.
    answered_errors: u32,
}

/// A destination that answers the same transaction with an error (other than 429) this
/// many times is failing on its content, not on being down: its PDUs are dropped (the destination
/// fetches them as missing events when it sees later ones, as after Synapse's
/// catch-up) and the EDUs go on alone; an EDU-only transaction is then dropped too.
/// Retrying forever would hold back everything queued behind it.
const MAX_SERVER_ERRORS: u32 = 3;

/// How a send went wrong.
enum SendError {
    /// No answer (connection, TLS, timeout): retry for as long as it takes.
    Unreachable(String),
    /// The destination answered with this status.
    Answered(u16, String),
}

/// What to do with a transaction the destination did not acknowledge.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Send it again, unchanged, after the backoff.
    Retry,
    /// Drop its PDUs; the EDUs go in the next transaction.
    DropPdus,
    /// Drop all of it.
    Drop,
}

fn verdict(error: &SendError, answered_errors: u32, has_pdus: bool) -> Verdict {
    match error {
        SendError::Unreachable(_) | SendError::Answered(429, _) => Verdict::Retry,
        SendError::Answered(..) if answered_errors < MAX_SERVER_ERRORS => Verdict::Retry,
        SendError::Answered(..) if has_pdus => Verdict::DropPdus,
        SendError::Answered(..) => Verdict::Drop,
    }
}

/// The delivery loop of one destination.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(level = "debug", skip_all, fields(destination = %destination))]
async fn deliver(
    destination: String,
    txn_prefix: Arc<str>,
    health: Arc<Mutex<HashMap<String, Health>>>,
    storage: Storage,
    client: Arc<FederationClient>,
    backoff: Backoff,
    signals: Arc<Signals>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = backoff.first;
    let mut retry: Option<InFlight> = None;
    // Bumped whenever part of a transaction is dropped, so the next one (which may start
    // at the same outbox position) never reuses an ID the destination has seen.
    let mut generation = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        let txn = match retry.take() {
            Some(txn) => txn,
            None => {
                let items = match storage.outbox.peek(&destination, MAX_PDUS, MAX_EDUS) {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::error!(error = %e, %destination, "cannot read the federation outbox");
                        Vec::new()
                    }
                };
                if items.is_empty() {
                    tokio::select! {
                        _ = signals.queued.notified() => continue,
                        _ = stop.changed() => return,
                    }
                }
                let seqs: Vec<u64> = items.iter().map(|(seq, _)| *seq).collect();
                let pdu_seqs = items
                    .iter()
                    .filter(|(_, item)| matches!(item, OutboxItem::Pdu { .. }))
                    .map(|(seq, _)| *seq)
                    .collect();
                let txn_id = match generation {
                    0 => format!("{txn_prefix}.{}", seqs[0]),
                    n => format!("{txn_prefix}.{}-{n}", seqs[0]),
                };
                InFlight {
                    txn_id,
                    seqs,
                    pdu_seqs,
                    body: transaction(&storage, client.server_name(), items),
                    answered_errors: 0,
                }
            }
        };
        let sent = tokio::select! {
            sent = send(&client, &destination, &txn.txn_id, &txn.body) => sent,
            _ = stop.changed() => return,
        };
        match sent {
            Ok(()) => {
                delay = backoff.first;
                if let Ok(mut health) = health.lock() {
                    let entry = health.entry(destination.clone()).or_default();
                    entry.failing_since_ts = None;
                    entry.retry_interval_ms = 0;
                    entry.last_attempt_ts = Some(citadel_storage::now_ms());
                    entry.last_success_ts = Some(citadel_storage::now_ms());
                }
                let mut batch = storage.batch();
                storage.outbox.remove(&mut batch, &destination, &txn.seqs);
                if let Err(e) = storage.commit(batch).await {
                    tracing::error!(error = %e, %destination, "cannot dequeue a sent transaction");
                }
            }
            Err(error) => {
                let mut txn = txn;
                if matches!(error, SendError::Answered(status, _) if status != 429) {
                    txn.answered_errors += 1;
                }
                let reason = match &error {
                    SendError::Unreachable(reason) => reason.clone(),
                    SendError::Answered(status, answer) => format!("{status}: {answer}"),
                };
                match verdict(&error, txn.answered_errors, !txn.pdu_seqs.is_empty()) {
                    Verdict::Retry => {}
                    drop => {
                        let seqs = match drop {
                            Verdict::DropPdus => &txn.pdu_seqs,
                            _ => &txn.seqs,
                        };
                        tracing::warn!(%destination, txn_id = %txn.txn_id, %reason, dropped = seqs.len(), "destination keeps refusing a transaction; dropping its content");
                        let mut batch = storage.batch();
                        storage.outbox.remove(&mut batch, &destination, seqs);
                        if let Err(e) = storage.commit(batch).await {
                            tracing::error!(error = %e, %destination, "cannot drop a refused transaction");
                        }
                        generation += 1;
                        // The destination is up (it answered): go on at once.
                        continue;
                    }
                }
                if let Ok(mut health) = health.lock() {
                    let entry = health.entry(destination.clone()).or_default();
                    entry.failures += 1;
                    entry
                        .failing_since_ts
                        .get_or_insert(citadel_storage::now_ms());
                    entry.last_attempt_ts = Some(citadel_storage::now_ms());
                    entry.retry_interval_ms = delay.as_millis() as u64;
                }
                tracing::info!(%destination, txn_id = %txn.txn_id, %reason, retry_in = ?delay, "federation transaction failed");
                retry = Some(txn);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = signals.alive.notified() => {}
                    _ = stop.changed() => return,
                }
                delay = (delay * 2).min(backoff.max);
            }
        }
    }
}

/// The transaction body for queued items. A PDU that is no longer stored is skipped.
fn transaction(storage: &Storage, origin: &str, items: Vec<(u64, OutboxItem)>) -> Value {
    let mut pdus: Vec<Box<RawValue>> = Vec::new();
    let mut edus: Vec<Value> = Vec::new();
    for (_, item) in items {
        match item {
            OutboxItem::Pdu { event_id } => {
                let stored = match storage.rooms.timeline.get(&event_id) {
                    Ok(Some((_, stored))) => Some(stored),
                    _ => storage.rooms.outliers.get(&event_id).ok().flatten(),
                };
                match stored {
                    Some(stored) => pdus.push(stored.pdu),
                    None => tracing::warn!(%event_id, "queued event is not stored; skipped"),
                }
            }
            OutboxItem::Edu { edu } => edus.push(edu),
        }
    }
    json!({
        "origin": origin,
        "origin_server_ts": citadel_storage::now_ms(),
        "pdus": pdus,
        "edus": edus,
    })
}

async fn send(
    client: &FederationClient,
    destination: &str,
    txn_id: &str,
    body: &Value,
) -> Result<(), SendError> {
    let path = format!("/_matrix/federation/v1/send/{txn_id}");
    match client.request(destination, "PUT", &path, Some(body)).await {
        Ok((200, _)) => Ok(()),
        Ok((status, answer)) => Err(SendError::Answered(status, answer.to_string())),
        Err(e) => Err(SendError::Unreachable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_transactions_are_dropped_and_outages_retried() {
        let down = SendError::Unreachable("connection refused".into());
        assert_eq!(verdict(&down, 0, true), Verdict::Retry);
        assert_eq!(verdict(&down, 99, true), Verdict::Retry);
        let busy = SendError::Answered(429, String::new());
        assert_eq!(verdict(&busy, 0, true), Verdict::Retry);
        let bad = SendError::Answered(400, String::new());
        assert_eq!(verdict(&bad, 1, true), Verdict::Retry);
        assert_eq!(verdict(&bad, MAX_SERVER_ERRORS, true), Verdict::DropPdus);
        let broken = SendError::Answered(500, String::new());
        assert_eq!(verdict(&broken, 1, true), Verdict::Retry);
        assert_eq!(verdict(&broken, MAX_SERVER_ERRORS, true), Verdict::DropPdus);
        assert_eq!(verdict(&broken, MAX_SERVER_ERRORS, false), Verdict::Drop);
    }
}
