//! `/sync`: the notifier that wakes waiting requests, and the response builders.

pub mod account;
pub mod cache;
pub mod filter;
pub mod notifier;
pub mod room;
pub mod v3;
