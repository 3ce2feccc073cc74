//! Integration tests: real Citadel servers on loopback ports, driven over HTTP.
//! One test binary for the whole suite keeps link time and CI wall time down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod account;
mod account_data;
mod admin;
mod admin_api;
mod admin_audit;
mod admin_devices;
mod admin_rooms;
mod around;
mod bench_smoke;
mod clients;
mod crash;
mod cross_signing;
mod devices;
mod directory;
mod discovery;
mod e2ee;
mod errors;
mod federation;
mod federation_directory;
mod federation_e2ee;
mod federation_hostile;
mod federation_reset;
mod federation_rooms;
mod federation_state;
mod join_rules;
mod key_backup;
mod login;
mod media;
mod membership;
mod messages;
mod profile;
mod push;
mod registration;
mod relations;
mod room_presets;
mod rooms;
mod sliding_sync;
mod sliding_sync_sdk;
mod synapse;
mod sync;
mod tls;
mod visibility;
