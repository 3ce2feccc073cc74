//! Push: users' push rules, evaluating them on every new event to produce notifications
//! (unread and highlight counts), and delivering them to push gateways.

pub mod cache;
pub mod evaluate;
pub mod gateway;
pub mod read;
pub mod rules;
