//! Removing a room from the database (the admin API's room delete with `purge`).
//!
//! A purge runs in steps, each one atomic batch, so a big room never needs one huge
//! write and a server killed mid-purge has lost nothing it still needed: every step
//! deletes an event together with everything indexed by it, and the room's own records
//! (meta, short ID, state pointer) go last. Running the purge again after an interruption
//! finds what is left and deletes it; a finished purge run again does nothing.

use std::collections::HashSet;

use crate::rooms::timeline::PduId;
use crate::{Result, Storage};

/// Events deleted per step.
pub const EVENTS_PER_STEP: usize = 256;

impl Storage {
    /// Deletes up to `limit` of the room's events, oldest first, with their short IDs,
    /// state snapshots, relations and transaction records. Returns how many it deleted:
    /// fewer than `limit` means none are left. `short` is the room's short ID.
    pub fn purge_room_events(&self, short: u64, limit: usize) -> Result<usize> {
        let rooms = &self.rooms;
        let events = rooms.timeline.oldest(short, limit)?;
        let mut batch = self.batch();
        let mut gone = HashSet::new();
        for (count, stored) in &events {
            self.remove_event(&mut batch, short, *count, &stored.event_id, Some(&mut gone))?;
        }
        self.apply(batch)?;
        Ok(events.len())
    }

    /// Deletes some events of a room's history (the admin API's history purge): each
    /// with its short ID, relations and transaction record, and the pointer to the
    /// state after it, but not the state snapshots, which later events share.
    /// `events` are `(position, event ID)`; the caller keeps state events, which the
    /// room's state and authorization still need.
    pub fn purge_history_events(&self, short: u64, events: &[(u64, String)]) -> Result<()> {
        let mut batch = self.batch();
        for (count, event_id) in events {
            self.remove_event(&mut batch, short, *count, event_id, None)?;
        }
        self.apply(batch)
    }

    /// One event and what is indexed by it; `snapshots` (when purging the whole room)
    /// also takes the state snapshots it leads to.
    fn remove_event(
        &self,
        batch: &mut crate::Batch,
        short: u64,
        count: u64,
        event_id: &str,
        snapshots: Option<&mut HashSet<u64>>,
    ) -> Result<()> {
        let rooms = &self.rooms;
        if let Some(short_event) = rooms.short.event_if_known(event_id)? {
            match snapshots {
                Some(gone) => rooms.state.remove_after_event(batch, short_event, gone)?,
                None => rooms.state.forget_after_event(batch, short_event),
            }
            rooms.short.remove_event(batch, event_id, short_event);
        }
        rooms.relations.remove_target(batch, event_id)?;
        self.txn_ids.remove_origin(batch, event_id);
        rooms
            .timeline
            .remove(batch, PduId { room: short, count }, event_id);
        Ok(())
    }

    /// Deletes everything of the room that is not an event: its state, memberships (on
    /// both sides), local aliases and directory entry, receipts, threads, its members'
    /// notifications and room account data, its outliers, and finally the room itself.
    /// Call after [`Storage::purge_room_events`] has deleted every event.
    pub fn purge_room_rest(&self, room_id: &str, short: u64) -> Result<()> {
        let rooms = &self.rooms;
        for alias in rooms.aliases.for_room(room_id)? {
            rooms.aliases.remove(&alias)?;
        }
        rooms.directory.set_published(room_id, false)?;
        let mut batch = self.batch();
        let outliers = rooms.outliers.remove_room(&mut batch, room_id)?;
        tracing::debug!(room_id, outliers, "purging the room's outliers");
        self.apply(batch)?;

        let mut batch = self.batch();
        let members = rooms.membership.members(room_id)?;
        for (user_id, _) in &members {
            self.notifications
                .remove_room(&mut batch, user_id, room_id)?;
            self.account_data
                .remove_room(&mut batch, user_id, room_id)?;
        }
        rooms.membership.remove_room(&mut batch, room_id)?;
        self.receipts.remove_room(&mut batch, room_id)?;
        rooms.relations.remove_threads(&mut batch, short)?;
        rooms.timeline.remove_all_extremities(&mut batch, short)?;
        rooms
            .state
            .remove_current(&mut batch, short, &mut HashSet::new())?;
        rooms.remove_meta(&mut batch, room_id);
        rooms.short.remove_room(&mut batch, room_id, short);
        self.apply(batch)
    }

    /// Purges the whole room in steps (see the module docs); safe to run again.
    pub fn purge_room(&self, room_id: &str) -> Result<()> {
        let Some(short) = self.rooms.short.room_if_known(room_id)? else {
            return Ok(());
        };
        while self.purge_room_events(short, EVENTS_PER_STEP)? == EVENTS_PER_STEP {}
        self.purge_room_rest(room_id, short)
    }
}
