//! Password hashing with argon2id. Hashing is deliberately slow (tens of milliseconds of a
//! core and about 19 MiB each), so it runs off the async runtime's worker threads, and the
//! server's sign-ins and sign-ups go through [`PasswordHashing`], which bounds how many run
//! at once: a flood of sign-ins queues briefly and then answers 503 instead of taking the
//! node's memory and every core.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing worker stayed busy for the whole queue wait.
    #[error("every password hashing worker stayed busy for {0:?}")]
    Busy(Duration),
    /// Hashing itself failed (it does not for valid parameters).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes a password (argon2id, default parameters, random salt) into PHC string form,
/// without a bound (for the command line; the server uses [`PasswordHashing`]).
pub async fn hash_password(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| e.to_string())?
}

/// Checks a password against a stored hash, without a bound. A malformed hash counts as a
/// mismatch.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_now(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Argon2 work with a bound: at most `workers` hashes run at once, each on a blocking thread,
/// and a caller waits at most `queue_wait` for a worker before getting
/// [`PasswordError::Busy`]. Callers hold nothing else while they wait (no database
/// connection: look the user up first, hash after).
/// Clones share the bound.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    workers: Arc<Semaphore>,
    queue_wait: Duration,
}

impl PasswordHashing {
    pub fn new(workers: usize, queue_wait: Duration) -> Self {
        PasswordHashing {
            workers: Arc::new(Semaphore::new(workers.max(1))),
            queue_wait,
        }
    }

    /// The default number of workers: half the cores, at least one, so a storm of sign-ins
    /// leaves the other half to the sessions the node serves.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get() / 2)
            .unwrap_or(1)
            .max(1)
    }

    async fn worker(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        match tokio::time::timeout(self.queue_wait, self.workers.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one would mean no worker ever again.
            Ok(Err(_)) | Err(_) => Err(PasswordError::Busy(self.queue_wait)),
        }
    }

    /// Hashes a password like [`hash_password`], within the bound.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let permit = self.worker().await?;
        // The permit moves into the blocking task: a caller that goes away (its client
        // disconnected) does not free the worker before the hash is done.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_now(&password)
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))?
        .map_err(PasswordError::Failed)
    }

    /// Checks a password like [`verify_password`], within the bound.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, PasswordError> {
        let permit = self.worker().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_now(&password, &hash)
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("battery staple".into(), h).await);
        assert!(!verify_password("x".into(), "not a hash".into()).await);
    }

    #[tokio::test]
    async fn past_the_queue_wait_the_answer_is_busy() {
        let hashing = PasswordHashing::new(1, Duration::from_millis(50));
        let held = hashing.worker().await.unwrap();
        let started = std::time::Instant::now();
        let err = hashing.hash("correct horse".into()).await.unwrap_err();
        assert!(matches!(err, PasswordError::Busy(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(held);
        let h = hashing.hash("correct horse".into()).await.unwrap();
        assert!(hashing.verify("correct horse".into(), h).await.unwrap());
    }
}
