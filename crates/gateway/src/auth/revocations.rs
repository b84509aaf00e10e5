//! The session check: Redis first when its copy can be trusted, the users
//! service otherwise, and the bookkeeping that decides which. Writes go to
//! the users service first (the truth) and to Redis after, best effort: a
//! Redis write that fails leaves this gateway "dirty", and a dirty gateway
//! trusts no copy until it has made the copy untrusted for everyone (the
//! next time Redis answers) and a refill has completed.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use syncchain_platform::{
    auth::{Caller, TokenKeys},
    grpc::{from_timestamp, request},
};
use syncchain_proto::users::v1::{self as pb, users_client::UsersClient};
use uuid::Uuid;

use super::{
    TokenStatus,
    session_cache::{Cached, SessionCache},
};
use crate::{errors::ApiError, metrics::CountedChannel};

/// After Redis fails, it is not asked again for this long.
const REDIS_BACKOFF: Duration = Duration::from_secs(1);
/// The least time between two refill attempts of one gateway.
const REFILL_INTERVAL: Duration = Duration::from_secs(1);
/// Entries per `ListSessionState` page of a refill.
const REFILL_PAGE: u32 = 1000;

/// Session checks and the writes that change their answers.
#[derive(Clone)]
pub struct Revocations {
    keys: TokenKeys,
    cache: SessionCache,
    users: UsersClient<CountedChannel>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Redis writes of this gateway that failed, and how many of them a
    /// distrust of the copy has covered: the copy is not trusted while
    /// the first is larger.
    failed_writes: AtomicU64,
    covered_writes: AtomicU64,
    /// A refill task is running.
    refilling: AtomicBool,
    /// Redis is not asked before this instant.
    redis_retry_at: Mutex<Option<Instant>>,
    /// When the last refill started.
    last_refill: Mutex<Option<Instant>>,
}

impl Revocations {
    pub fn new(
        keys: TokenKeys,
        redis: redis::aio::ConnectionManager,
        prefix: &str,
        users: UsersClient<CountedChannel>,
    ) -> Self {
        Self {
            keys,
            cache: SessionCache::new(redis, prefix),
            users,
            state: Arc::default(),
        }
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub(super) async fn status(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<TokenStatus, ApiError> {
        match self.ask_cache(caller).await {
            Some(cached) => Ok(status_of(caller, cached)),
            None => self.ask_users(token).await,
        }
    }

    /// Revokes the caller's token (`token`) until it would have expired
    /// anyway: durably first, so a failure of the fast path afterwards
    /// neither fails the sign-out nor lets the token back in.
    pub async fn revoke(&self, caller: &Caller, token: &str) -> Result<(), ApiError> {
        self.users
            .clone()
            .revoke_token(request(pb::RevokeTokenRequest {}, Some(token)))
            .await
            .map_err(|status| ApiError::from_status(status, "users.RevokeToken"))?;
        self.remember(
            self.cache
                .add_revocation(caller.token_id, caller.expires_at),
        )
        .await;
        Ok(())
    }

    /// Tells the fast path that `user_id`'s sessions ended now; the users
    /// service recorded it durably with the role change. Best effort.
    pub async fn sessions_ended(&self, user_id: Uuid) {
        let now = Utc::now().timestamp_millis();
        self.remember(self.cache.add_cutoff(user_id, now)).await;
    }

    /// What Redis says, when it can be asked and its copy trusted.
    async fn ask_cache(&self, caller: &Caller) -> Option<Cached> {
        if !self.redis_may_be_asked() {
            return None;
        }
        let failed = self.state.failed_writes.load(Ordering::SeqCst);
        if failed > self.state.covered_writes.load(Ordering::SeqCst) {
            match self.cache.distrust().await {
                Ok(()) => {
                    self.state
                        .covered_writes
                        .fetch_max(failed, Ordering::SeqCst);
                    self.start_refill();
                }
                Err(error) => self.redis_failed(&error),
            }
            return None;
        }
        match self.cache.lookup(caller.token_id, caller.user_id).await {
            Ok(Some(cached)) => Some(cached),
            Ok(None) => {
                self.start_refill();
                None
            }
            Err(error) => {
                self.redis_failed(&error);
                None
            }
        }
    }

    async fn ask_users(&self, token: &str) -> Result<TokenStatus, ApiError> {
        let answer = self
            .users
            .clone()
            .check_session(request(pb::CheckSessionRequest {}, Some(token)))
            .await
            .map_err(|status| {
                tracing::error!(grpc.code = ?status.code(), grpc.message = status.message(), "cannot check the session with Redis nor the users service");
                ApiError::Internal
            })?
            .into_inner();
        match pb::SessionStatus::try_from(answer.status) {
            Ok(pb::SessionStatus::Valid) => Ok(TokenStatus::Valid),
            Ok(pb::SessionStatus::Revoked) => Ok(TokenStatus::Revoked),
            Ok(pb::SessionStatus::Ended) => Ok(TokenStatus::RoleChanged),
            Ok(pb::SessionStatus::Unspecified) | Err(_) => {
                tracing::error!(
                    status = answer.status,
                    "users answered an unknown session status"
                );
                Err(ApiError::Internal)
            }
        }
    }

    /// Runs a write to the fast path; if it cannot be made, the copy stops
    /// being trusted (see [`State::failed_writes`]).
    async fn remember(&self, write: impl Future<Output = Result<(), redis::RedisError>>) {
        if !self.redis_may_be_asked() {
            self.state.failed_writes.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if let Err(error) = write.await {
            self.state.failed_writes.fetch_add(1, Ordering::SeqCst);
            self.redis_failed(&error);
        }
    }

    fn redis_may_be_asked(&self) -> bool {
        let retry_at = *lock(&self.state.redis_retry_at);
        retry_at.is_none_or(|at| Instant::now() >= at)
    }

    fn redis_failed(&self, error: &redis::RedisError) {
        tracing::warn!(%error, "Redis cannot be asked about sessions; asking the users service");
        *lock(&self.state.redis_retry_at) = Some(Instant::now() + REDIS_BACKOFF);
    }

    /// Starts refilling the copy in the background, unless a refill is
    /// running or started too recently.
    fn start_refill(&self) {
        {
            let mut last = lock(&self.state.last_refill);
            if last.is_some_and(|at| at.elapsed() < REFILL_INTERVAL) {
                return;
            }
            if self.state.refilling.swap(true, Ordering::SeqCst) {
                return;
            }
            *last = Some(Instant::now());
        }
        let this = self.clone();
        tokio::spawn(async move {
            match this.refill().await {
                Ok(true) => tracing::info!("session cache refilled"),
                Ok(false) => tracing::info!("session cache refill superseded"),
                Err(error) => tracing::warn!(error = %error, "cannot refill the session cache"),
            }
            this.state.refilling.store(false, Ordering::SeqCst);
        });
    }

    /// Copies every revocation and every cut-off still relevant from the
    /// users service; marks the copy complete last. `false` when another
    /// refill or a distrust came in between.
    async fn refill(&self) -> Result<bool, RefillError> {
        let nonce = self.cache.begin_refill().await?;
        // A token issued before a cut-off older than this has expired.
        let since = Utc::now()
            - chrono::Duration::from_std(self.keys.ttl()).unwrap_or(chrono::Duration::days(1))
            - chrono::Duration::minutes(1);
        let mut after = String::new();
        loop {
            let page = self
                .users
                .clone()
                .list_session_state(pb::ListSessionStateRequest {
                    cutoffs_since: Some(syncchain_platform::grpc::timestamp(since)),
                    first: REFILL_PAGE,
                    after,
                })
                .await?
                .into_inner();
            let revoked = page
                .revoked
                .into_iter()
                .map(|r| Ok((parse_id(&r.token_id)?, from_timestamp(r.expires_at))))
                .collect::<Result<Vec<_>, RefillError>>()?;
            let cutoffs = page
                .cutoffs
                .into_iter()
                .map(|c| Ok((parse_id(&c.user_id)?, from_timestamp(c.valid_after))))
                .collect::<Result<Vec<_>, RefillError>>()?;
            self.cache.write_page(&revoked, &cutoffs).await?;
            if !page.has_next_page || page.end_cursor.is_empty() {
                break;
            }
            after = page.end_cursor;
        }
        Ok(self.cache.finish_refill(&nonce).await?)
    }
}

#[derive(Debug, thiserror::Error)]
enum RefillError {
    #[error("Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the users service failed: {0}")]
    Users(#[from] tonic::Status),
    #[error("the users service sent a malformed id")]
    MalformedId(#[from] uuid::Error),
}

fn parse_id(raw: &str) -> Result<Uuid, RefillError> {
    Ok(Uuid::try_parse(raw)?)
}

fn status_of(caller: &Caller, cached: Cached) -> TokenStatus {
    if cached.revoked {
        TokenStatus::Revoked
    } else if cached
        .cutoff_ms
        .is_some_and(|cutoff| caller.issued_at.timestamp_millis() < cutoff)
    {
        TokenStatus::RoleChanged
    } else {
        TokenStatus::Valid
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use syncchain_platform::auth::Role;

    use super::*;

    fn issued_at_ms(ms: i64) -> Caller {
        let issued_at = DateTime::from_timestamp_millis(ms).unwrap();
        Caller {
            user_id: Uuid::new_v4(),
            role: Role::Admin,
            token_id: Uuid::new_v4(),
            expires_at: issued_at + chrono::Duration::hours(1),
            issued_at,
        }
    }

    #[test]
    fn a_token_issued_before_the_cached_cutoff_is_refused_and_one_issued_at_it_counts() {
        let cutoff = |ms| Cached {
            revoked: false,
            cutoff_ms: Some(ms),
        };
        assert_eq!(
            status_of(&issued_at_ms(999), cutoff(1000)),
            TokenStatus::RoleChanged
        );
        assert_eq!(
            status_of(&issued_at_ms(1000), cutoff(1000)),
            TokenStatus::Valid
        );
    }

    #[test]
    fn a_cached_revocation_wins_over_everything() {
        let cached = Cached {
            revoked: true,
            cutoff_ms: None,
        };
        assert_eq!(status_of(&issued_at_ms(5), cached), TokenStatus::Revoked);
    }
}
