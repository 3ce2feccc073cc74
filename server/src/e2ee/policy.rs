//! The encrypted-only policy (`[e2ee]` in the config): rooms are created encrypted, and
//! in an encrypted room the server refuses plaintext message events from its own users.
//! `m.room.encrypted` events must carry a megolm ciphertext (checked with vodozemac), so
//! nothing else can be smuggled in under that type.

use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;
use crate::config::EncryptionEnforcement;
use crate::rooms::RoomCtx;
use crate::rooms::state::current_event;

pub const MEGOLM: &str = "m.megolm.v1.aes-sha2";

/// Whether a new room must be created encrypted.
pub fn encrypt_new_room(state: &AppState, public: bool) -> bool {
    match state.config.e2ee.enforce {
        EncryptionEnforcement::All => true,
        EncryptionEnforcement::Private => !public,
        EncryptionEnforcement::Off => false,
    }
}

/// The `m.room.encryption` content rooms are created with.
pub fn encryption_content() -> Value {
    json!({ "algorithm": MEGOLM, "rotation_period_ms": 604_800_000u64, "rotation_period_msgs": 100 })
}

/// Checks a message-like event a local user wants to send.
pub fn check_message(state: &AppState, room: &RoomCtx, kind: &str, content: &Value) -> Result<()> {
    if kind == "m.room.encrypted" {
        return check_ciphertext(content);
    }
    if state.config.e2ee.enforce == EncryptionEnforcement::Off {
        return Ok(());
    }
    if state
        .config
        .e2ee
        .plaintext_allowed
        .iter()
        .any(|allowed| allowed == kind)
    {
        return Ok(());
    }
    if current_event(state, room, "m.room.encryption", "")?.is_some() {
        return Err(Error::forbidden(format!(
            "This room is end-to-end encrypted and this server stores no message plaintext: \
             send {kind} as m.room.encrypted"
        )));
    }
    Ok(())
}

/// An `m.room.encrypted` room event must be megolm and its ciphertext a megolm message.
fn check_ciphertext(content: &Value) -> Result<()> {
    if content["algorithm"] != MEGOLM {
        return Err(Error::bad_json(format!(
            "Encrypted room events must use {MEGOLM}"
        )));
    }
    let ciphertext = content["ciphertext"]
        .as_str()
        .ok_or_else(|| Error::bad_json("ciphertext must be a string"))?;
    vodozemac::megolm::MegolmMessage::from_base64(ciphertext)
        .map_err(|e| Error::bad_json(format!("ciphertext is not a megolm message: {e}")))?;
    Ok(())
}
