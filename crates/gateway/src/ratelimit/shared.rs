//! The limits kept in Redis, shared by every gateway instance. Admission is
//! one Lua script, so it is atomic: the counters are checked and the
//! attempt counted in one step, before any password is looked at. Counting
//! after the check (or after the password) lets a burst of parallel
//! requests all pass the check before the first one is counted.

use std::{sync::Arc, time::Duration};

use redis::{RedisError, Script, aio::ConnectionManager};

use super::{
    Admission,
    keys::{Counter, CounterKey},
};

/// KEYS: the counters of one attempt. ARGV[1]: the window in seconds;
/// ARGV[1 + i]: the limit of KEYS[i]. Either every counter has room and the
/// attempt is counted on all of them (each starting its window when it is
/// new), or none is touched and the answer is the seconds until the full
/// counter resets. 0 means admitted.
const ADMIT: &str = r"
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, window)
      ttl = window
    end
    if ttl < 1 then ttl = 1 end
    return ttl
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, window)
  end
end
return 0
";

/// KEYS: counters to take one attempt back from, where they still hold one.
const REFUND: &str = r"
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
";

#[derive(Clone)]
pub struct SharedCounters {
    redis: ConnectionManager,
    prefix: String,
    admit: Arc<Script>,
    refund: Arc<Script>,
}

impl SharedCounters {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            admit: Arc::new(Script::new(ADMIT)),
            refund: Arc::new(Script::new(REFUND)),
        }
    }

    fn key(&self, key: &CounterKey) -> String {
        format!("{}:limit:{}", self.prefix, key.hex())
    }

    pub async fn admit(
        &self,
        counters: &[Counter],
        window: Duration,
    ) -> Result<Admission, RedisError> {
        let mut invocation = self.admit.prepare_invoke();
        invocation.arg(window.as_secs().max(1));
        for counter in counters {
            invocation.key(self.key(&counter.key)).arg(counter.limit);
        }
        let mut redis = self.redis.clone();
        let wait: u64 = invocation.invoke_async(&mut redis).await?;
        Ok(match wait {
            0 => Admission::Admitted,
            retry_after => Admission::Refused { retry_after },
        })
    }

    pub async fn refund(&self, keys: &[CounterKey]) -> Result<(), RedisError> {
        let mut invocation = self.refund.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        let mut redis = self.redis.clone();
        invocation.invoke_async::<()>(&mut redis).await
    }
}
