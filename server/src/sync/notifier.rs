//! In-memory wake-ups for long-polling `/sync`, keyed by user. Independent of the
//! storage engine: a writer calls [`Notifier::notify`] after its commit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

#[derive(Default)]
pub struct Notifier {
    users: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Set at shutdown: every waiting request answers with what it has.
    closing: AtomicBool,
}

impl Notifier {
    /// A receiver that changes whenever something for `user_id` is committed. Subscribe
    /// *before* checking for news, so nothing committed in between is missed.
    pub fn subscribe(&self, user_id: &str) -> watch::Receiver<u64> {
        let mut users = match self.users.lock() {
            Ok(users) => users,
            Err(poisoned) => poisoned.into_inner(),
        };
        users
            .entry(user_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// At shutdown: wakes every waiting request, and tells it (and any new one) to answer
    /// now instead of waiting, so the server stops within its short grace period.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let users = match self.users.lock() {
            Ok(users) => users,
            Err(poisoned) => poisoned.into_inner(),
        };
        for sender in users.values() {
            sender.send_modify(|_| {});
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Wakes the users' waiting requests.
    pub fn notify<'a>(&self, user_ids: impl IntoIterator<Item = &'a str>, position: u64) {
        let mut users = self.lock();
        for user_id in user_ids {
            if let Some(sender) = users.get(user_id) {
                sender.send_replace(position);
            }
        }
        Self::prune(&mut users);
    }

    /// Of the users for whom `wakes` holds, where `listed` (`count` users) names every
    /// such user, those with a channel (who may be waiting). Walks whichever is shorter,
    /// the list or the users with a channel, so a room of thousands with a few syncing
    /// members costs a few lookups.
    pub fn listening_among<'a>(
        &self,
        listed: impl Iterator<Item = &'a str>,
        count: usize,
        wakes: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let users = self.lock();
        if users.len() < count {
            users.keys().filter(|u| wakes(u)).cloned().collect()
        } else {
            listed
                .filter(|u| wakes(u) && users.contains_key(*u))
                .map(str::to_owned)
                .collect()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops channels nobody listens to any more.
    fn prune(users: &mut HashMap<String, watch::Sender<u64>>) {
        if users.len() > 1024 {
            users.retain(|_, sender| sender.receiver_count() > 0);
        }
    }
}
