//! The fast path of session checks: revocations and cut-offs copied from
//! the users database into Redis. Everything lives in one hash,
//! `{prefix}:sessions`, so Redis can only lose it all at once (eviction,
//! restart, flush): a hash without its `loaded` field is not trusted, and
//! one with it holds every revocation and cut-off there is.
//!
//! Fields: `t:{token_id}` (a revoked token, its expiry in ms), `u:{user_id}`
//! (tokens of that user issued before this ms no longer count), `loaded`
//! (the hash is complete) and `refill` (the nonce of the refill under way).
//! Values only ever grow (a script writes the larger), so a refill working
//! from an older snapshot never undoes a newer write. A refill sets
//! `loaded` only if its nonce is still there, so a hash emptied under it is
//! not marked complete; whoever cannot write a change makes the hash
//! untrusted by removing both fields.
//!
//! The hash expires [`TRUST_FOR`] after a refill: then it is rebuilt from
//! the users database, which prunes entries no longer needed and bounds how
//! long a change that reached the database but not Redis can go unseen.

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script, aio::ConnectionManager};
use uuid::Uuid;

/// How long a refilled hash is trusted before it is rebuilt.
pub const TRUST_FOR: Duration = Duration::from_secs(300);

const LOADED: &str = "loaded";
const REFILL: &str = "refill";

/// Writes `field value` pairs, keeping the larger value of each field, and
/// gives the hash a lifetime if it has none.
const WRITE_MAX: &str = r"
for i = 2, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or tonumber(current) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
return 1
";

/// Marks the hash complete if the refill holding nonce `ARGV[1]` is still
/// the one under way, and trusts it for `ARGV[2]` seconds.
const FINISH_REFILL: &str = r"
if redis.call('HGET', KEYS[1], 'refill') ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'refill')
redis.call('HSET', KEYS[1], 'loaded', '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// What the hash says about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached {
    pub revoked: bool,
    /// The user's cut-off, in ms since the epoch.
    pub cutoff_ms: Option<i64>,
}

/// The hash of one deployment's session state.
#[derive(Clone)]
pub struct SessionCache {
    redis: ConnectionManager,
    key: String,
}

impl SessionCache {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            key: key(prefix),
        }
    }

    /// What the hash says about this token of this user; `None` when the
    /// hash is not complete and must not be trusted.
    pub async fn lookup(
        &self,
        token_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Cached>, redis::RedisError> {
        let mut redis = self.redis.clone();
        let (loaded, revoked, cutoff): (Option<String>, Option<String>, Option<i64>) = redis
            .hget(
                &self.key,
                &[
                    LOADED.to_owned(),
                    token_field(token_id),
                    user_field(user_id),
                ],
            )
            .await?;
        Ok(loaded.map(|_| Cached {
            revoked: revoked.is_some(),
            cutoff_ms: cutoff,
        }))
    }

    pub async fn add_revocation(
        &self,
        token_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), redis::RedisError> {
        self.write(&[(token_field(token_id), expires_at.timestamp_millis())])
            .await
    }

    pub async fn add_cutoff(&self, user_id: Uuid, at_ms: i64) -> Result<(), redis::RedisError> {
        self.write(&[(user_field(user_id), at_ms)]).await
    }

    /// Makes the hash untrusted until the next complete refill, and makes
    /// a refill under way fail.
    pub async fn distrust(&self) -> Result<(), redis::RedisError> {
        let mut redis = self.redis.clone();
        redis.hdel(&self.key, &[LOADED, REFILL]).await
    }

    /// Starts a refill; returns its nonce.
    pub async fn begin_refill(&self) -> Result<String, redis::RedisError> {
        let nonce = Uuid::new_v4().simple().to_string();
        let mut redis = self.redis.clone();
        redis::pipe()
            .atomic()
            .hset(&self.key, REFILL, &nonce)
            .ignore()
            .cmd("EXPIRE")
            .arg(&self.key)
            .arg(TRUST_FOR.as_secs())
            .arg("NX")
            .ignore()
            .query_async::<()>(&mut redis)
            .await?;
        Ok(nonce)
    }

    /// Writes one page of a refill.
    pub async fn write_page(
        &self,
        revoked: &[(Uuid, DateTime<Utc>)],
        cutoffs: &[(Uuid, DateTime<Utc>)],
    ) -> Result<(), redis::RedisError> {
        let fields: Vec<(String, i64)> = revoked
            .iter()
            .map(|(id, at)| (token_field(*id), at.timestamp_millis()))
            .chain(
                cutoffs
                    .iter()
                    .map(|(id, at)| (user_field(*id), at.timestamp_millis())),
            )
            .collect();
        if fields.is_empty() {
            return Ok(());
        }
        self.write(&fields).await
    }

    /// Marks the hash complete, unless it lost the refill's nonce (it was
    /// emptied, distrusted or another refill took over). Returns whether
    /// it did.
    pub async fn finish_refill(&self, nonce: &str) -> Result<bool, redis::RedisError> {
        let mut redis = self.redis.clone();
        let done: i64 = Script::new(FINISH_REFILL)
            .key(&self.key)
            .arg(nonce)
            .arg(TRUST_FOR.as_secs())
            .invoke_async(&mut redis)
            .await?;
        Ok(done == 1)
    }

    async fn write(&self, fields: &[(String, i64)]) -> Result<(), redis::RedisError> {
        let mut redis = self.redis.clone();
        let script = Script::new(WRITE_MAX);
        let mut invocation = script.key(&self.key);
        invocation.arg(TRUST_FOR.as_secs());
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        invocation.invoke_async::<i64>(&mut redis).await?;
        Ok(())
    }
}

/// The hash of a deployment with this Redis key prefix.
pub fn key(prefix: &str) -> String {
    format!("{prefix}:sessions")
}

fn token_field(token_id: Uuid) -> String {
    format!("t:{}", token_id.simple())
}

fn user_field(user_id: Uuid) -> String {
    format!("u:{}", user_id.simple())
}

/// Tells the fast path that every token `user_id` holds now stopped
/// counting (after a role change the users service already recorded), for
/// callers outside the gateway (`syncchain admin`).
pub async fn end_sessions(
    redis: &ConnectionManager,
    prefix: &str,
    user_id: Uuid,
) -> Result<(), redis::RedisError> {
    SessionCache::new(redis.clone(), prefix)
        .add_cutoff(user_id, Utc::now().timestamp_millis())
        .await
}
