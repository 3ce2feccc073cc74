//! Citadel's federation crate: the room protocol that servers share (PDUs, signatures,
//! authorization, state resolution) and the server-to-server transport.
//!
//! For now it owns the server's ed25519 signing key ([`signing`]).

pub mod signing;
