//! `/sync`: the notifier that wakes waiting requests, and the response builders.

pub mod filter;
pub mod notifier;
pub mod v3;
