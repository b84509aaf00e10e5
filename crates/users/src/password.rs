//! Password hashing with Argon2id at OWASP's recommended parameters
//! (19 MiB, 2 passes, 1 lane). Each hash takes tens of milliseconds of CPU,
//! so it runs on the blocking pool, never on the async runtime, and a
//! semaphore caps how many run at once so a burst of sign-ins cannot starve
//! the machine. A dummy hash made at start lets an unknown email cost
//! exactly what a wrong password costs, so timing reveals no accounts.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{self, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{AcquireError, Semaphore};

use crate::domain::Password;

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters")]
    Params(#[from] argon2::Error),
    #[error("cannot hash or verify a password")]
    Argon2(#[from] password_hash::Error),
    #[error("the password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("the password hashing pool is closed")]
    Closed(#[from] AcquireError),
}

/// Hashes and verifies passwords off the async runtime, a bounded number
/// at a time. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl PasswordHasher {
    /// `concurrency` hashes may run at once (at least one).
    pub async fn new(concurrency: usize) -> Result<Self, PasswordError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self {
            argon2,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::from(""),
        };
        let throwaway = uuid::Uuid::new_v4().to_string();
        let dummy = hasher
            .run(move |argon2| hash_with(&argon2, &throwaway))
            .await?;
        hasher.dummy = Arc::from(dummy);
        Ok(hasher)
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) to store.
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.clone();
        self.run(move |argon2| hash_with(&argon2, password.expose()))
            .await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// account) the dummy is checked instead, at the same cost, and the
    /// answer is always no.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.to_string());
        let password = SecretString::from(password);
        let matches = self
            .run(move |argon2| {
                let parsed = PasswordHash::new(&stored)?;
                match argon2.verify_password(password.expose_secret().as_bytes(), &parsed) {
                    Ok(()) => Ok(true),
                    Err(password_hash::Error::Password) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce(Argon2<'static>) -> Result<T, password_hash::Error> + Send + 'static,
        T: Send + 'static,
    {
        // The permit moves into the blocking task, so it is held for as long
        // as the work runs even if the request that asked for it goes away.
        let permit = Arc::clone(&self.permits).acquire_owned().await?;
        let argon2 = self.argon2.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(argon2)
        })
        .await??;
        Ok(result)
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_hash_uses_argon2id_with_the_owasp_parameters() {
        let hasher = PasswordHasher::new(1).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(2).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(
            hasher
                .verify("correct horse", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horsE", Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(1).await.unwrap();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = PasswordHasher::new(1).await.unwrap();
        let a = hasher.hash(&password("correct horse")).await.unwrap();
        let b = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_damaged_stored_hash_never_matches() {
        let hasher = PasswordHasher::new(1).await.unwrap();
        let unparseable = hasher
            .verify("correct horse", Some("not a hash".into()))
            .await;
        let truncated = hasher
            .verify("correct horse", Some("$argon2id$junk".into()))
            .await;
        assert!(unparseable.is_err());
        assert!(!truncated.unwrap_or(false));
    }
}
