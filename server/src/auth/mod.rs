//! Authentication: password hashing, token secrets, login sessions and
//! user-interactive authentication (UIAA).

pub mod account;
pub mod password;
pub mod restrictions;
pub mod session;
pub mod token;
pub mod uiaa;
pub mod username;
