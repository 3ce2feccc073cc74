//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! as OWASP recommends).
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on a small dedicated pool
//! ([`Hasher`], one thread per core): never on an HTTP worker, and never on dozens of
//! blocking-pool threads at once, where every thread's allocator would keep its 19 MiB.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

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
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
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
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
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
