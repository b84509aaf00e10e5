//! Password hashing with Argon2id at OWASP's recommended parameters
//! (19 MiB, 2 passes, 1 lane). Each hash takes tens of milliseconds of CPU,
//! so it runs on the blocking pool, never on the async runtime, and a
//! semaphore caps how many run at once so a burst of sign-ins cannot starve
//! the machine. The queue in front of it is bounded too: when as many
//! requests are already waiting as the queue holds, the next one is refused
//! at once ([`PasswordError::Busy`], RESOURCE_EXHAUSTED on the wire) rather
//! than piling up behind the others, so the service keeps a limit of its
//! own whoever calls it. A dummy hash made at start lets an unknown email
//! cost exactly what a wrong password costs, so timing reveals no accounts.
//!
//! Each hash's 19 MiB of working memory is taken from a free list and put
//! back, never allocated per hash: a buffer freed by one blocking thread
//! stays in that thread's allocator arena, so allocating per hash left up
//! to one 19 MiB buffer resident in every arena the blocking pool's threads
//! touched (seen: 177 to 519 MiB after a few seconds of sign-ins). With the
//! free list the pool holds at most one buffer per hash allowed at once.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{self, Output, PasswordHash, SaltString},
};
use secrecy::{ExposeSecret, SecretString};
use syncchain_platform::metrics::{Counter, Gauge, Metrics};
use tokio::sync::{Semaphore, TryAcquireError};

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
    /// Never in practice: the semaphores are never closed.
    #[error("the password hashing pool is closed")]
    Closed,
    #[error("too many password checks are waiting")]
    Busy,
}

/// Hashes and verifies passwords off the async runtime, a bounded number
/// at a time. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// Working memory of finished hashes, for the next ones: at most one
    /// buffer per `permits`.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// One per hash running or waiting to run: concurrency + queue.
    admitted: Arc<Semaphore>,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
    gauges: PoolGauges,
}

/// The hashing pool as `/metrics` shows it.
#[derive(Clone, Default)]
struct PoolGauges {
    waiting: Gauge,
    busy: Gauge,
    refused: Counter,
}

/// Counts one unit on `gauge` for as long as it lives, however the work
/// holding it ends (done, failed, or its request dropped).
struct Held(Gauge);

impl Held {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl PasswordHasher {
    /// `concurrency` hashes may run at once (at least one) and `queue`
    /// more may wait for their turn.
    pub async fn new(concurrency: usize, queue: usize) -> Result<Self, PasswordError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let concurrency = concurrency.max(1);
        let mut hasher = Self {
            argon2,
            memory: Arc::default(),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy: Arc::from(""),
            gauges: PoolGauges::default(),
        };
        let throwaway = uuid::Uuid::new_v4().to_string();
        let dummy = hasher
            .run(move |argon2, memory| hash_with(argon2, &throwaway, memory))
            .await?;
        hasher.dummy = Arc::from(dummy);
        Ok(hasher)
    }

    /// Shows the pool in `metrics`: hashes waiting for a turn, hashes
    /// running, and checks refused because the queue was full.
    #[must_use]
    pub fn with_metrics(mut self, metrics: &Metrics) -> Self {
        self.gauges = PoolGauges {
            waiting: metrics
                .gauges::<[(&str, &str); 0]>(
                    "password_hashes_waiting",
                    "Argon2 hashes or checks admitted and waiting for a hashing thread.",
                )
                .get_or_create_owned(&[]),
            busy: metrics
                .gauges::<[(&str, &str); 0]>(
                    "password_hashes_running",
                    "Argon2 hashes or checks running now.",
                )
                .get_or_create_owned(&[]),
            refused: metrics
                .counters::<[(&str, &str); 0]>(
                    "password_hashes_refused",
                    "Password hashes or checks refused because the hashing queue was full.",
                )
                .get_or_create_owned(&[]),
        };
        self
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) to store.
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.clone();
        self.run(move |argon2, memory| hash_with(argon2, password.expose(), memory))
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
            .run(move |_, memory| verify_with(password.expose_secret().as_bytes(), &stored, memory))
            .await?;
        Ok(known && matches)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce(&Argon2<'static>, &mut Vec<Block>) -> Result<T, password_hash::Error>
            + Send
            + 'static,
        T: Send + 'static,
    {
        // Both permits move into the blocking task, so they are held for as
        // long as the work runs even if the request that asked goes away.
        let admitted = match Arc::clone(&self.admitted).try_acquire_owned() {
            Ok(admitted) => admitted,
            Err(TryAcquireError::NoPermits) => {
                self.gauges.refused.inc();
                return Err(PasswordError::Busy);
            }
            Err(TryAcquireError::Closed) => return Err(PasswordError::Closed),
        };
        let waiting = Held::new(&self.gauges.waiting);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        drop(waiting);
        let running = Held::new(&self.gauges.busy);
        let argon2 = self.argon2.clone();
        let free = Arc::clone(&self.memory);
        let result = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, permit, running);
            let taken = free.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut memory =
                taken.unwrap_or_else(|| vec![Block::default(); argon2.params().block_count()]);
            let result = work(&argon2, &mut memory);
            // A buffer grown for a stored hash with more memory goes back at
            // the service's own size.
            let blocks = argon2.params().block_count();
            if memory.len() > blocks {
                memory.truncate(blocks);
                memory.shrink_to_fit();
            }
            free.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            result
        })
        .await??;
        Ok(result)
    }
}

fn hash_with(
    argon2: &Argon2<'_>,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let output_len = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let hash = compute(argon2, password.as_bytes(), &salt, output_len, memory)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2.params().try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string())
}

/// Whether `password` hashes to `stored`, with the algorithm, version and
/// parameters `stored` names (a hash made with other parameters still
/// verifies) and a constant-time comparison ([`Output`]'s equality).
fn verify_with(
    password: &[u8],
    stored: &str,
    memory: &mut Vec<Block>,
) -> Result<bool, password_hash::Error> {
    let parsed = PasswordHash::new(stored)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        // A stored hash without its salt or output matches nothing.
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = compute(&argon2, password, salt, expected.len(), memory)?;
    Ok(computed == expected)
}

/// Argon2 of `password` and `salt` into `output_len` bytes, working in
/// `memory` (grown if these parameters need more than it holds).
fn compute<'a>(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: impl Into<password_hash::Salt<'a>>,
    output_len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, password_hash::Error> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.into().decode_b64(&mut salt_bytes)?;
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(password_hash::Error::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_hash_uses_argon2id_with_the_owasp_parameters() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hasher = PasswordHasher::new(2, 8).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(
            hasher
                .verify("correct horse", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horsE", Some(hash)).await.unwrap());
    }

    /// `correct horse` hashed by the argon2 crate's own hasher with `params`.
    fn their_hash(params: Params) -> (Argon2<'static>, String) {
        use argon2::PasswordHasher as _;
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let stored = theirs
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        (theirs, stored)
    }

    async fn verifies_only_the_right_password(hasher: &PasswordHasher, stored: &str) {
        assert!(
            hasher
                .verify("correct horse", Some(stored.to_owned()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horsE", Some(stored.to_owned()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own_hasher_both_ways() {
        use argon2::PasswordVerifier as _;
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap();
        let (theirs, stored) = their_hash(params);
        verifies_only_the_right_password(&hasher, &stored).await;

        let ours = hasher.hash(&password("correct horse")).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(theirs.verify_password(b"correct horse", &parsed).is_ok());
        assert!(theirs.verify_password(b"correct horsE", &parsed).is_err());
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_still_verifies() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        // More memory than the pool's buffers hold, and a longer output.
        let (_, stored) = their_hash(Params::new(2 * MEMORY_KIB, 1, 1, Some(48)).unwrap());
        verifies_only_the_right_password(&hasher, &stored).await;
        // The buffers are back to work at the service's own parameters, and
        // at its own size.
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        verifies_only_the_right_password(&hasher, &hash).await;
        let blocks = hasher.argon2.params().block_count();
        let sizes: Vec<usize> = hasher.memory.lock().unwrap().iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&n| n == blocks), "{sizes:?}");
    }

    /// `n` checks of the right password against `hash`, started at once.
    async fn checks_at_once(
        hasher: &PasswordHasher,
        hash: &str,
        n: usize,
    ) -> Vec<Result<bool, PasswordError>> {
        let checks: Vec<_> = (0..n)
            .map(|_| {
                let (hasher, hash) = (hasher.clone(), hash.to_owned());
                tokio::spawn(async move { hasher.verify("correct horse", Some(hash)).await })
            })
            .collect();
        let mut results = Vec::new();
        for check in checks {
            results.push(check.await.unwrap());
        }
        results
    }

    #[tokio::test]
    async fn the_working_memory_is_reused_not_allocated_per_hash() {
        let hasher = PasswordHasher::new(2, 8).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        for result in checks_at_once(&hasher, &hash, 8).await {
            assert!(result.unwrap());
        }
        let buffers = hasher.memory.lock().unwrap().len();
        assert!((1..=2).contains(&buffers), "{buffers} buffers kept");
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        let a = hasher.hash(&password("correct horse")).await.unwrap();
        let b = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn past_the_queue_a_check_is_refused_at_once_and_the_rest_complete() {
        let hasher = PasswordHasher::new(1, 2).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();

        let results = checks_at_once(&hasher, &hash, 8).await;

        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(PasswordError::Busy)))
            .count();
        let matched = results.iter().filter(|r| matches!(r, Ok(true))).count();
        // One runs and two wait; the other five are refused without hashing.
        assert_eq!((matched, busy), (3, 5), "{results:?}");
        assert!(hasher.verify("correct horse", Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_damaged_stored_hash_never_matches() {
        let hasher = PasswordHasher::new(1, 4).await.unwrap();
        let unparseable = hasher
            .verify("correct horse", Some("not a hash".into()))
            .await;
        let truncated = hasher
            .verify("correct horse", Some("$argon2id$junk".into()))
            .await;
        let without_output = hasher
            .verify(
                "correct horse",
                Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0".into()),
            )
            .await;
        assert!(unparseable.is_err());
        assert!(!truncated.unwrap_or(false));
        assert!(!without_output.unwrap(), "a hash with no output matched");
    }
}
