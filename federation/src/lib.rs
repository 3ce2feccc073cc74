//! Citadel's federation crate: the room protocol that servers share (PDUs, signatures,
//! authorization, state resolution) and the server-to-server transport.

pub mod auth;
pub mod client;
pub mod discovery;
pub mod multipart;
pub mod pdu;
pub mod receive;
pub mod sender;
pub mod server_keys;
pub mod signing;
pub mod srv;
pub mod state_res;
pub mod x_matrix;
