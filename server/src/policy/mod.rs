//! Server policy: rate limits (and later encryption enforcement, data-loss prevention,
//! retention).

pub mod rate_limit;
