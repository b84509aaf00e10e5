//! Limits on the two anonymous operations that cost a password hash:
//! signing in and registering. Each attempt is admitted or refused before
//! any password is looked at, atomically (see [`shared`]), so a burst of
//! parallel requests gets no more than the budget.
//!
//! Sign-in counts each attempt on three counters, all per window:
//!
//! - the account *from this client* (`SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT`):
//!   the budget a guesser gets on one account;
//! - the account *from anywhere* (`SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL`),
//!   larger: guessing from many addresses is still bounded, while a stranger
//!   failing on someone's email from one address spends only their own pair
//!   budget and cannot lock the owner out;
//! - the client, on any account (`SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS`), so
//!   one client cannot spray many accounts.
//!
//! A successful sign-in gives its attempt back to the two account counters,
//! so an owner's own sign-ins never use up their budget. Registration counts
//! on the client and on the email. Accounts are keyed by the canonical
//! email, clients by address with IPv6 by /64 (see [`keys`]).
//!
//! Counters live in Redis so every gateway instance shares them. When Redis
//! cannot be reached the same limits are held in this process ([`local`])
//! until it is back: the limits are never off.

mod keys;
mod local;
mod shared;

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use self::{
    keys::{ClientKey, Counter, CounterKey},
    local::LocalCounters,
    shared::SharedCounters,
};
use crate::{config::SignInLimits, errors::ApiError};

/// The verdict on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Refused { retry_after: u64 },
}

impl Admission {
    fn into_result(self) -> Result<(), ApiError> {
        match self {
            Self::Admitted => Ok(()),
            Self::Refused { retry_after } => Err(ApiError::RateLimited { retry_after }),
        }
    }
}

/// Where an attempt was counted, so its refund goes to the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Shared,
    Local,
}

/// An admitted sign-in attempt; hand it back with
/// [`SignInLimiter::signed_in`] when the credentials were right.
#[must_use]
pub struct SignInPass {
    store: Store,
    account: [CounterKey; 2],
}

#[derive(Clone)]
pub struct SignInLimiter {
    shared: SharedCounters,
    local: Arc<LocalCounters>,
    limits: SignInLimits,
    redis_down: Arc<AtomicBool>,
}

impl SignInLimiter {
    pub fn new(redis: redis::aio::ConnectionManager, prefix: &str, limits: SignInLimits) -> Self {
        Self {
            shared: SharedCounters::new(redis, prefix),
            local: Arc::new(LocalCounters::new(local::CAPACITY)),
            limits,
            redis_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Counts a sign-in attempt, or refuses it with `RATE_LIMITED`.
    pub async fn admit_sign_in(
        &self,
        email: &str,
        address: IpAddr,
    ) -> Result<SignInPass, ApiError> {
        let client = ClientKey::from(address);
        let account = [
            CounterKey::sign_in_pair(email, client),
            CounterKey::sign_in_account(email),
        ];
        let counters = [
            Counter {
                key: CounterKey::sign_in_client(client),
                limit: self.limits.per_address,
            },
            Counter {
                key: account[0],
                limit: self.limits.per_account,
            },
            Counter {
                key: account[1],
                limit: self.limits.per_account_global,
            },
        ];
        let store = self.admit(&counters).await?;
        Ok(SignInPass { store, account })
    }

    /// The credentials were right: the attempt no longer counts against the
    /// account (it still counts against the client).
    pub async fn signed_in(&self, pass: SignInPass) {
        match pass.store {
            Store::Local => self.local.refund(&pass.account, Instant::now()),
            Store::Shared => {
                if let Err(error) = self.shared.refund(&pass.account).await {
                    tracing::warn!(%error, "cannot refund a sign-in attempt in Redis");
                }
            }
        }
    }

    /// Counts a registration, or refuses it with `RATE_LIMITED`.
    pub async fn admit_registration(&self, email: &str, address: IpAddr) -> Result<(), ApiError> {
        let client = ClientKey::from(address);
        let counters = [
            Counter {
                key: CounterKey::register_client(client),
                limit: self.limits.register_per_address,
            },
            Counter {
                key: CounterKey::register_email(email),
                limit: self.limits.register_per_email,
            },
        ];
        self.admit(&counters).await.map(|_| ())
    }

    async fn admit(&self, counters: &[Counter]) -> Result<Store, ApiError> {
        let window = self.limits.window;
        match self.shared.admit(counters, window).await {
            Ok(admission) => {
                if self.redis_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limits are kept in Redis again");
                }
                admission.into_result().map(|()| Store::Shared)
            }
            Err(error) => {
                if !self.redis_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis unreachable: rate limits are kept in this process until it is back");
                }
                self.local
                    .admit(counters, window, Instant::now())
                    .into_result()
                    .map(|()| Store::Local)
            }
        }
    }
}
