//! Who is calling. The token comes from `Authorization: <token>` or
//! `Authorization: Bearer <token>`. It is checked lazily, the first time a
//! resolver needs the caller, and at most once per request: a request that
//! only registers or signs in does not pay for a Redis round trip, and a
//! stale token sent along with a public operation does not break it.
//!
//! Whether a verified token still counts (not signed out, not issued
//! before its user's role changed) is recorded durably by the users
//! service, which is the truth; Redis holds a copy as the fast path (see
//! [`session_cache`]). When the copy is not known to be complete (Redis
//! restarted empty, evicted it, or a write of ours to it failed) or Redis
//! cannot be asked, the users service answers, and the copy is refilled in
//! the background, one refill at a time per gateway. When neither can be
//! asked, signed-in requests fail with `INTERNAL` rather than risk
//! honouring a revoked token.
//!
//! Over WebSocket one connection carries many operations, so there the
//! verdict is not kept: each operation checks the token again.

use std::sync::Arc;

use syncchain_platform::auth::{Caller, TokenError};
use tokio::sync::OnceCell;

use crate::errors::ApiError;

mod revocations;
pub mod session_cache;

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
    let caller = match revocations.keys().verify(token) {
        Ok(caller) => caller,
        Err(TokenError::Expired) => return Ok(Err("the token has expired".into())),
        Err(TokenError::Invalid) => return Ok(Err("the token is not valid".into())),
    };
    Ok(match revocations.status(&caller, token).await? {
        TokenStatus::Valid => Ok(caller),
        TokenStatus::Revoked => Err("the token has been revoked".into()),
        TokenStatus::RoleChanged => Err("your role has changed; sign in again".into()),
    })
}

pub use revocations::Revocations;
pub use session_cache::end_sessions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenStatus {
    Valid,
    Revoked,
    RoleChanged,
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
