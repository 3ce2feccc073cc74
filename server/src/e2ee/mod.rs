//! End-to-end encryption support: the server never decrypts anything; it stores and
//! hands out public keys, relays Olm-encrypted to-device messages, tracks which users
//! must hear about device changes, and enforces the encrypted-only policy.

pub mod device_lists;
pub mod federated;
pub mod keys;
pub mod policy;
pub mod to_device;
