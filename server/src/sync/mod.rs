//! `/sync` v3 and sliding sync: the notifier that wakes waiting requests of both, and the
//! response builders.

pub mod account;
pub mod cache;
pub mod events;
pub mod filter;
pub mod lazy_members;
pub mod notifier;
pub mod room;
pub mod sliding;
pub mod v3;
