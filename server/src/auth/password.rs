//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! as OWASP recommends).
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on a small dedicated pool
//! ([`Hasher`], one thread per core): never on an HTTP worker. Each pool thread keeps
//! one buffer of argon2 blocks, made on its first hash and reused: left to the allocator,
//! every hash took 19 MiB that glibc kept in per-thread heaps, and a burst of logins left
//! the server hundreds of MiB larger for good.

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::api::error::{Error, Result};

/// Longest password accepted; argon2 takes any length, but hashing megabytes on request
/// is a cheap way to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 512;

type Job = Box<dyn FnOnce() + Send>;

/// The pool that hashes and verifies passwords.
pub struct Hasher {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// A hash to verify against when the account does not exist, so that "no such user"
    /// takes as long as "wrong password".
    dummy: std::sync::OnceLock<String>,
}

impl Hasher {
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
            dummy: std::sync::OnceLock::new(),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs
            .lock()
            .map_err(|_| Error::internal("password pool poisoned"))?
            .send(job)
            .map_err(|_| Error::internal("password pool stopped"))?;
        rx.await
            .map_err(|_| Error::internal("password pool dropped a job"))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid_param(format!(
                "Password is longer than {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            hash_with_reused_memory(password.as_bytes(), &salt)
        })
        .await?
        .map_err(Error::internal)
    }

    /// Whether `password` matches the stored PHC string. Comparison is constant-time
    /// inside the argon2 crate.
    pub async fn verify(&self, stored: String, password: String) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        self.run(move || verify_with_reused_memory(&stored, password.as_bytes()))
            .await
    }

    /// A verification that cannot succeed, taking as long as a real one.
    pub async fn burn_equivalent_time(&self) {
        let dummy = match self.dummy.get() {
            Some(dummy) => dummy.clone(),
            None => {
                // Made on first need rather than at start-up, which stays lean.
                let made = self.hash("dummy".into()).await.unwrap_or_default();
                self.dummy.get_or_init(|| made).clone()
            }
        };
        let _ = self.verify(dummy, "not the password".into()).await;
    }
}

thread_local! {
    /// This pool thread's argon2 working memory.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 (the crate's algorithm) into `out`, in this thread's reused blocks.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        blocks.resize(params.block_count(), Block::default());
        argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..])
    })
}

/// The PHC string of an argon2id hash with the default parameters, as
/// `PasswordHasher::hash_password` makes it.
fn hash_with_reused_memory(password: &[u8], salt: &SaltString) -> Result<String, String> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| e.to_string())?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        argon2_into(&argon2, &params, password, salt_raw, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches a stored PHC string (any argon2 variant and parameters).
/// `Output`'s equality is constant-time.
fn verify_with_reused_memory(stored: &str, password: &[u8]) -> bool {
    (|| -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let expected = parsed.hash?;
        let mut salt_bytes = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let computed = Output::init_with(expected.len(), |out| {
            argon2_into(&argon2, &params, password, salt, out)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .ok()?;
        Some(computed == expected)
    })()
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_match_the_crate_and_verify_both_ways() {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let ours = hash_with_reused_memory(b"correct horse", &salt).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs, "the same PHC string as the crate's own");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(verify_with_reused_memory(&theirs, b"correct horse"));
        assert!(!verify_with_reused_memory(&theirs, b"wrong horse"));
        assert!(!verify_with_reused_memory("not a hash", b"correct horse"));
    }
}
