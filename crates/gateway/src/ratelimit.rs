//! Sign-in rate limits, kept in Redis so every gateway instance shares them.
//!
//! Two fixed windows: failed attempts per account (so one account cannot be
//! guessed at from many addresses) and all attempts per client address (so
//! one address cannot spray many accounts). A caller over either limit is
//! refused before any password is checked. Account keys are a hash of the
//! normalised email, so no email sits in Redis.
//!
//! If Redis cannot be reached the limits are not enforced for that attempt
//! and the failure is logged: sign-in stays available, and Argon2's cost
//! still bounds guessing.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::{config::SignInLimits, errors::ApiError};

#[derive(Clone)]
pub struct SignInLimiter {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    limits: SignInLimits,
}

impl SignInLimiter {
    pub fn new(redis: redis::aio::ConnectionManager, prefix: &str, limits: SignInLimits) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            limits,
        }
    }

    fn account_key(&self, email: &str) -> String {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}:signin:account:{hex}", self.prefix)
    }

    fn address_key(&self, address: IpAddr) -> String {
        format!("{}:signin:address:{address}", self.prefix)
    }

    /// Counts this attempt against the address and refuses it when either
    /// limit is already reached.
    pub async fn admit(&self, email: &str, address: IpAddr) -> Result<(), ApiError> {
        let account = self.account_key(email);
        let address = self.address_key(address);
        let window = self.limits.window.as_secs().max(1);
        let mut redis = self.redis.clone();
        let result: Result<(Option<u32>, u32, i64), _> = redis::pipe()
            .get(&account)
            .incr(&address, 1)
            .cmd("EXPIRE")
            .arg(&address)
            .arg(window)
            .arg("NX")
            .ignore()
            .ttl(&address)
            .query_async(&mut redis)
            .await;
        let (failures, attempts, ttl) = match result {
            Ok(counts) => counts,
            Err(error) => {
                tracing::warn!(%error, "sign-in rate limit unavailable");
                return Ok(());
            }
        };
        let retry_after = ttl.max(1) as u64;
        if attempts > self.limits.per_address {
            return Err(ApiError::RateLimited { retry_after });
        }
        if failures.unwrap_or(0) >= self.limits.per_account {
            let ttl: i64 = redis::cmd("TTL")
                .arg(&account)
                .query_async(&mut redis)
                .await
                .unwrap_or(window as i64);
            return Err(ApiError::RateLimited {
                retry_after: ttl.max(1) as u64,
            });
        }
        Ok(())
    }

    /// Records a failed attempt against the account.
    pub async fn failed(&self, email: &str) {
        let key = self.account_key(email);
        let window = self.limits.window.as_secs().max(1);
        let mut redis = self.redis.clone();
        let result: Result<(), _> = redis::pipe()
            .incr(&key, 1)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window)
            .arg("NX")
            .ignore()
            .query_async(&mut redis)
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "sign-in rate limit unavailable");
        }
    }
}
