//! This server's side of server-to-server traffic that is not the room protocol itself:
//! ephemeral events (EDUs) in and out.

pub mod edu;
pub mod edu_out;
