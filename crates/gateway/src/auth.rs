//! Who is calling. The token comes from `Authorization: <token>` or
//! `Authorization: Bearer <token>`. It is checked lazily, the first time a
//! resolver needs the caller, and at most once per request: a request that
//! only registers or signs in does not pay for a Redis round trip, and a
//! stale token sent along with a public operation does not break it.
//!
//! Revocation (`signOut`) is a Redis key per token id that lives as long as
//! the token would have. When Redis cannot be asked, signed-in requests fail
//! with `INTERNAL` rather than risk honouring a revoked token.

use std::sync::Arc;

use chrono::Utc;
use redis::AsyncCommands;
use syncchain_platform::auth::{Caller, TokenError, TokenKeys};
use tokio::sync::OnceCell;

use crate::errors::ApiError;

/// The token of one request, and its verdict once asked for.
#[derive(Clone)]
pub struct RequestAuth {
    token: Option<String>,
    verdict: Arc<OnceCell<Result<Caller, String>>>,
}

impl RequestAuth {
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
            verdict: Arc::new(OnceCell::new()),
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
        let verdict = self
            .verdict
            .get_or_try_init(|| async {
                let caller = match revocations.keys.verify(token) {
                    Ok(caller) => caller,
                    Err(TokenError::Expired) => return Ok(Err("the token has expired".into())),
                    Err(TokenError::Invalid) => return Ok(Err("the token is not valid".into())),
                };
                if revocations.is_revoked(&caller).await? {
                    return Ok(Err("the token has been revoked".into()));
                }
                Ok::<_, ApiError>(Ok(caller))
            })
            .await?;
        verdict.clone().map_err(ApiError::Unauthenticated)
    }
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

    async fn is_revoked(&self, caller: &Caller) -> Result<bool, ApiError> {
        let mut redis = self.redis.clone();
        redis.exists(self.key(caller)).await.map_err(|error| {
            tracing::error!(%error, "cannot check token revocation");
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
