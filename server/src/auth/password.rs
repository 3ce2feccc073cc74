//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! as OWASP recommends). Hashing is deliberately slow, so it runs on the blocking pool,
//! never on an HTTP worker thread.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::api::error::{Error, Result};

/// Longest password accepted; argon2 takes any length, but hashing megabytes on request
/// is a cheap way to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 512;

pub async fn hash(password: String) -> Result<String> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid_param(format!(
            "Password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    actix_web::web::block(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(Error::internal)
}

/// Whether `password` matches the stored PHC string. Comparison is constant-time inside
/// the argon2 crate.
pub async fn verify(stored: String, password: String) -> Result<bool> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    actix_web::web::block(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(Error::from)
}

/// A dummy verification so that "no such user" takes as long as "wrong password".
pub async fn burn_equivalent_time() {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default()
                .hash_password(b"dummy", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone();
    let _ = verify(stored, "not the password".into()).await;
}
