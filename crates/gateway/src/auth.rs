//! Who is calling. The token comes from `Authorization: <token>` or
//! `Authorization: Bearer <token>`. It is checked lazily, the first time a
//! resolver needs the caller, and at most once per request: a request that
//! only registers or signs in does not pay for a Redis round trip, and a
//! stale token sent along with a public operation does not break it.
//!
//! Revocation (`signOut`) is a Redis key per token id that lives as long as
//! the token would have. A role change (`setUserRole`, `syncchain admin`)
//! sets a per-user cut-off: tokens that user got before it no longer count,
//! so a demoted admin is not an admin for the rest of a token's life. When
//! Redis cannot be asked, signed-in requests fail with `INTERNAL` rather
//! than risk honouring a revoked token.
//!
//! Over WebSocket one connection carries many operations, so there the
//! verdict is not kept: each operation checks the token again.

use std::sync::Arc;

use chrono::Utc;
use redis::AsyncCommands;
use syncchain_platform::auth::{Caller, TokenError, TokenKeys};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::errors::ApiError;

/// The token of one request, and its verdict once asked for.
#[derive(Clone)]
pub struct RequestAuth {
    token: Option<String>,
    /// `None` where every check must ask again (WebSocket connections).
    verdict: Option<Arc<OnceCell<Result<Caller, String>>>>,
}

impl RequestAuth {
    /// For a WebSocket connection: the token is checked for each operation.
    pub fn for_connection(value: Option<&str>) -> Self {
        Self {
            verdict: None,
            ..Self::from_header(value)
        }
    }

    pub fn from_header(value: Option<&str>) -> Self {
        let token = value.map(str::trim).and_then(|v| {
            let token = match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                _ if v.eq_ignore_ascii_case("bearer") => "",
                _ => v,
            };
            (!token.is_empty()).then(|| token.to_owned())
        });
        Self {
            token,
            verdict: Some(Arc::new(OnceCell::new())),
        }
    }

    /// The raw token, to forward to services.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The verified, unrevoked caller, or `UNAUTHENTICATED`.
    pub async fn caller(&self, revocations: &Revocations) -> Result<Caller, ApiError> {
        let Some(token) = self.token.as_deref() else {
            return Err(ApiError::Unauthenticated(
                "sign in first: send the token in the Authorization header".into(),
            ));
        };
        let verdict = match &self.verdict {
            Some(cell) => cell
                .get_or_try_init(|| check(token, revocations))
                .await?
                .clone(),
            None => check(token, revocations).await?,
        };
        verdict.map_err(ApiError::Unauthenticated)
    }
}

async fn check(token: &str, revocations: &Revocations) -> Result<Result<Caller, String>, ApiError> {
    let caller = match revocations.keys.verify(token) {
        Ok(caller) => caller,
        Err(TokenError::Expired) => return Ok(Err("the token has expired".into())),
        Err(TokenError::Invalid) => return Ok(Err("the token is not valid".into())),
    };
    Ok(match revocations.status(&caller).await? {
        TokenStatus::Valid => Ok(caller),
        TokenStatus::Revoked => Err("the token has been revoked".into()),
        TokenStatus::RoleChanged => Err("your role has changed; sign in again".into()),
    })
}

enum TokenStatus {
    Valid,
    Revoked,
    RoleChanged,
}

fn sessions_key(prefix: &str, user_id: Uuid) -> String {
    format!("{prefix}:sessions-before:{user_id}")
}

/// Makes every token `user_id` was given before now invalid, for as long as
/// such a token could live (`token_ttl`). Used after a role change: tokens
/// carry the role, so old ones must not outlive it. Tokens issued within the
/// same millisecond as the change stay valid.
pub async fn end_sessions(
    redis: &redis::aio::ConnectionManager,
    prefix: &str,
    user_id: Uuid,
    token_ttl: std::time::Duration,
) -> Result<(), redis::RedisError> {
    let mut redis = redis.clone();
    redis
        .set_ex(
            sessions_key(prefix, user_id),
            Utc::now().timestamp_millis(),
            token_ttl.as_secs() + 60,
        )
        .await
}

/// The revocation list in Redis.
#[derive(Clone)]
pub struct Revocations {
    keys: TokenKeys,
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

impl Revocations {
    pub fn new(keys: TokenKeys, redis: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            keys,
            redis,
            prefix: prefix.to_owned(),
        }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    fn key(&self, caller: &Caller) -> String {
        format!("{}:revoked:{}", self.prefix, caller.token_id)
    }

    async fn status(&self, caller: &Caller) -> Result<TokenStatus, ApiError> {
        let mut redis = self.redis.clone();
        let (revoked, cut_off): (bool, Option<i64>) = redis::pipe()
            .exists(self.key(caller))
            .get(sessions_key(&self.prefix, caller.user_id))
            .query_async(&mut redis)
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot check token revocation");
                ApiError::Internal
            })?;
        Ok(if revoked {
            TokenStatus::Revoked
        } else if cut_off.is_some_and(|cut_off| caller.issued_at.timestamp_millis() < cut_off) {
            TokenStatus::RoleChanged
        } else {
            TokenStatus::Valid
        })
    }

    /// Ends the sessions `user_id` holds now (after a role change).
    pub async fn end_sessions(&self, user_id: Uuid) -> Result<(), ApiError> {
        end_sessions(&self.redis, &self.prefix, user_id, self.keys.ttl())
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot record a role change");
                ApiError::Internal
            })
    }

    /// Revokes the caller's token until it would have expired anyway.
    pub async fn revoke(&self, caller: &Caller) -> Result<(), ApiError> {
        let remaining = (caller.expires_at - Utc::now()).num_seconds().max(1) as u64;
        let mut redis = self.redis.clone();
        redis
            .set_ex::<_, _, ()>(self.key(caller), 1, remaining + 5)
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot revoke token");
                ApiError::Internal
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_header_forms_yield_the_same_token() {
        for header in ["abc.def.ghi", "Bearer abc.def.ghi", "bearer  abc.def.ghi "] {
            assert_eq!(
                RequestAuth::from_header(Some(header)).token(),
                Some("abc.def.ghi")
            );
        }
    }

    #[test]
    fn an_empty_header_is_no_token() {
        assert_eq!(RequestAuth::from_header(Some("Bearer ")).token(), None);
        assert_eq!(RequestAuth::from_header(Some("  ")).token(), None);
        assert_eq!(RequestAuth::from_header(None).token(), None);
    }
}
