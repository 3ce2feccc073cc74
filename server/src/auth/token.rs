//! Secrets handed to clients (access, refresh and login tokens, device IDs) and their
//! storage form.
//!
//! Tokens carry 256 bits of randomness and are stored only as their SHA-256 digest.
//! A stolen database therefore yields no usable token, and looking a token up by its
//! digest leaks nothing useful through timing: an attacker would need a preimage.

use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

pub use citadel_storage::tokens::TokenHash;

/// A new random token: `prefix` plus 43 base62 characters (~256 bits).
pub fn generate(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let random: String = (&mut rng)
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    format!("{prefix}{random}")
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A new device ID: ten upper-case letters, as Synapse generates them.
pub fn device_id() -> String {
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| rng.gen_range(b'A'..=b'Z') as char)
        .collect()
}

pub const ACCESS_PREFIX: &str = "cit_";
pub const REFRESH_PREFIX: &str = "citr_";
pub const LOGIN_PREFIX: &str = "citl_";
pub const OPENID_PREFIX: &str = "cito_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_hash_stably() {
        let a = generate(ACCESS_PREFIX);
        let b = generate(ACCESS_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("cit_") && a.len() == 47);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(device_id().len(), 10);
    }
}
