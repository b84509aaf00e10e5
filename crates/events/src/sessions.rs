//! A replica of the users service's session decisions, so a service that
//! takes the caller's identity from a token does not trust a token the
//! users service has already disowned.
//!
//! Tokens carry their role and live for their whole lifetime, so signing
//! out (`users.token_revoked`) and a role change (`users.sessions_ended`:
//! every token of the user issued before the cut-off stops counting) must
//! reach every instance of every service that reads them. The users service
//! publishes both through its outbox on the USERS stream; [`SessionFeed`]
//! follows that stream in every instance (a [`Feed`]), replaying it from
//! the start (the stream keeps a week, longer than any token lives) and
//! then following it, resubscribing from where it stopped after a failure
//! and replaying a stream created again from its start, so a revocation
//! published on it is not skipped as already seen.
//!
//! Until the replay has reached the end of the stream as it was at start,
//! the replica does not know every revocation: the service is not ready
//! ([`Sessions::check`]) and [`verify`] waits a little, then refuses with
//! UNAVAILABLE rather than letting an unknown token through.
//!
//! The replica is bounded: a revocation is forgotten once its token has
//! expired, a cut-off once every token it cuts off has (one token lifetime
//! later), and each map has a hard cap beyond which the entry that would be
//! forgotten soonest is dropped, with an error in the log.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_nats::jetstream;
use chrono::{DateTime, SubsecRound, Utc};
use syncchain_platform::{
    auth::{Caller, TokenKeys},
    failure::chain,
    grpc::require_caller,
    health::Check,
    shutdown::Shutdown,
};
use tokio::sync::watch;
use tonic::{Status, metadata::MetadataMap};
use uuid::Uuid;

use crate::{
    Envelope, Namespace,
    feed::{Feed, Follower, Start},
    payloads::users::{UserSessionsEndedV1, UserTokenRevokedV1},
    streams,
};

/// How long a request waits for the replay before it is refused.
pub const REPLAY_WAIT: Duration = Duration::from_secs(3);
/// The most revocations, and separately cut-offs, kept in memory.
pub const MAX_ENTRIES: usize = 1_000_000;
pub use crate::feed::STREAM_CHECK_EVERY;
/// How often expired entries are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Why a verified token does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the token has been revoked")]
    Revoked,
    #[error("your role has changed; sign in again")]
    RoleChanged,
    #[error("sessions are still being loaded; try again shortly")]
    NotReady,
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Revoked | Refusal::RoleChanged => Status::unauthenticated(refusal.to_string()),
            Refusal::NotReady => Status::unavailable(refusal.to_string()),
        }
    }
}

/// The caller of a request that must come from a signed-in user whose
/// token still counts: verified by `keys`, then checked against the
/// replica. The one check services run where they accept a caller.
pub async fn verify(
    metadata: &MetadataMap,
    keys: &TokenKeys,
    sessions: &Sessions,
) -> Result<Caller, Status> {
    let caller = require_caller(metadata, keys)?;
    sessions.admit(&caller).await?;
    Ok(caller)
}

/// The replica, shared by a service's handlers and fed by [`SessionFeed`].
#[derive(Clone)]
pub struct Sessions {
    state: Arc<Mutex<State>>,
    ready: Arc<watch::Sender<bool>>,
}

impl Sessions {
    /// An empty replica, not ready. `token_ttl` is the longest a token
    /// lives: a cut-off older than that cuts nothing off any more.
    pub fn new(token_ttl: Duration) -> Self {
        let token_ttl = chrono::Duration::from_std(token_ttl).unwrap_or(chrono::Duration::days(1));
        Self {
            state: Arc::new(Mutex::new(State::new(token_ttl, MAX_ENTRIES))),
            ready: Arc::new(watch::channel(false).0),
        }
    }

    /// The feed that keeps this replica up to date from `namespace`'s
    /// USERS stream; run it in the background.
    pub fn feed(&self, jetstream: jetstream::Context, namespace: Namespace) -> SessionFeed {
        SessionFeed(Feed::new(
            self.clone(),
            jetstream,
            namespace,
            streams::USERS,
            "users.>",
            Start::First,
        ))
    }

    /// Whether the replay has caught up with the stream.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// `sessions` in `/readyz`: ready once the replay has caught up.
    pub fn check(&self) -> Check {
        let sessions = self.clone();
        Check::new("sessions", move || {
            let ready = sessions.is_ready();
            async move { ready }
        })
    }

    /// Whether `caller`'s token still counts; waits up to [`REPLAY_WAIT`]
    /// for the replay to catch up.
    pub async fn admit(&self, caller: &Caller) -> Result<(), Refusal> {
        if !self.is_ready() {
            let mut ready = self.ready.subscribe();
            let caught_up = tokio::time::timeout(REPLAY_WAIT, ready.wait_for(|r| *r)).await;
            if !matches!(caught_up, Ok(Ok(_))) {
                return Err(Refusal::NotReady);
            }
        }
        self.lock().refusal(caller).map_or(Ok(()), Err)
    }

    fn mark_ready(&self) {
        self.ready
            .send_if_modified(|ready| !std::mem::replace(ready, true));
    }

    fn record(&self, envelope: &Envelope) {
        let now = Utc::now();
        if envelope.is::<UserTokenRevokedV1>() {
            match envelope.decode::<UserTokenRevokedV1>() {
                Ok(e) => self.lock().revoke(e.token_id, e.expires_at, now),
                Err(error) => tracing::error!(error = %chain(&error), "unreadable revocation"),
            }
        } else if envelope.is::<UserSessionsEndedV1>() {
            match envelope.decode::<UserSessionsEndedV1>() {
                Ok(e) => self.lock().end_sessions(e.user_id, e.before, now),
                Err(error) => tracing::error!(error = %chain(&error), "unreadable session cut-off"),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a pair of maps updated in one step each: a panic
        // elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Revoked token ids and per-user cut-offs.
struct State {
    /// Token id → when the token expires anyway.
    revoked: HashMap<Uuid, DateTime<Utc>>,
    /// User id → tokens issued before this no longer count.
    cut_offs: HashMap<Uuid, DateTime<Utc>>,
    token_ttl: chrono::Duration,
    cap: usize,
    swept_at: DateTime<Utc>,
}

impl State {
    fn new(token_ttl: chrono::Duration, cap: usize) -> Self {
        Self {
            revoked: HashMap::new(),
            cut_offs: HashMap::new(),
            token_ttl,
            cap,
            swept_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    fn refusal(&self, caller: &Caller) -> Option<Refusal> {
        if self.revoked.contains_key(&caller.token_id) {
            return Some(Refusal::Revoked);
        }
        match self.cut_offs.get(&caller.user_id) {
            Some(before) if caller.issued_at < *before => Some(Refusal::RoleChanged),
            _ => None,
        }
    }

    fn revoke(&mut self, token_id: Uuid, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.sweep_if_due(now, self.revoked.len());
        if expires_at <= now {
            return;
        }
        if self.revoked.len() >= self.cap
            && let Some(soonest) = soonest(&self.revoked)
        {
            self.revoked.remove(&soonest);
            tracing::error!(cap = self.cap, "session replica full; a revocation dropped");
        }
        self.revoked.insert(token_id, expires_at);
    }

    /// The latest cut-off wins: a replayed older one changes nothing.
    fn end_sessions(&mut self, user_id: Uuid, before: DateTime<Utc>, now: DateTime<Utc>) {
        self.sweep_if_due(now, self.cut_offs.len());
        if before + self.token_ttl <= now {
            return;
        }
        if self.cut_offs.len() >= self.cap
            && !self.cut_offs.contains_key(&user_id)
            && let Some(soonest) = soonest(&self.cut_offs)
        {
            self.cut_offs.remove(&soonest);
            tracing::error!(
                cap = self.cap,
                "session replica full; a session cut-off dropped"
            );
        }
        // Tokens know their issue time to the millisecond.
        let before = before.trunc_subsecs(3);
        let cut_off = self.cut_offs.entry(user_id).or_insert(before);
        *cut_off = (*cut_off).max(before);
    }

    /// Sweeps expired entries now and then, and always before a map
    /// would outgrow its cap.
    fn sweep_if_due(&mut self, now: DateTime<Utc>, len: usize) {
        let every = chrono::Duration::from_std(SWEEP_EVERY).unwrap_or_default();
        if len >= self.cap || now - self.swept_at >= every {
            self.forget_expired(now);
        }
    }

    fn forget_expired(&mut self, now: DateTime<Utc>) {
        let ttl = self.token_ttl;
        self.revoked.retain(|_, expires_at| *expires_at > now);
        self.cut_offs.retain(|_, before| *before + ttl > now);
        self.swept_at = now;
    }
}

/// The key whose time is earliest: the entry that would be forgotten first.
fn soonest(map: &HashMap<Uuid, DateTime<Utc>>) -> Option<Uuid> {
    map.iter().min_by_key(|(_, at)| **at).map(|(key, _)| *key)
}

/// Keeps a [`Sessions`] replica up to date from the USERS stream.
pub struct SessionFeed(Feed<Sessions>);

impl SessionFeed {
    /// Follows the stream until `stop` fires, resubscribing after failures.
    pub async fn run(self, stop: Shutdown) {
        self.0.run(stop).await;
    }
}

impl Follower for Sessions {
    fn apply(&self, envelope: &Envelope) {
        self.record(envelope);
    }

    fn caught_up(&self) {
        self.mark_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user_id: Uuid, issued_at: DateTime<Utc>) -> Caller {
        Caller {
            user_id,
            role: syncchain_platform::auth::Role::Admin,
            token_id: Uuid::new_v4(),
            expires_at: issued_at + chrono::Duration::hours(1),
            issued_at,
        }
    }

    fn state() -> State {
        State::new(chrono::Duration::hours(1), 3)
    }

    #[test]
    fn a_revoked_token_is_refused_and_another_of_the_same_user_is_not() {
        let now = Utc::now();
        let mut state = state();
        let (revoked, other) = (caller(Uuid::new_v4(), now), caller(Uuid::new_v4(), now));
        state.revoke(revoked.token_id, revoked.expires_at, now);
        assert_eq!(state.refusal(&revoked), Some(Refusal::Revoked));
        assert_eq!(state.refusal(&other), None);
    }

    #[test]
    fn a_cut_off_refuses_tokens_issued_before_it_only_and_the_latest_wins() {
        let now = Utc::now();
        let user = Uuid::new_v4();
        let mut state = state();
        state.end_sessions(user, now, now);
        state.end_sessions(user, now - chrono::Duration::minutes(5), now);
        let before = caller(user, now - chrono::Duration::milliseconds(1));
        let after = caller(user, now);
        assert_eq!(state.refusal(&before), Some(Refusal::RoleChanged));
        assert_eq!(state.refusal(&after), None);
    }

    #[test]
    fn expired_revocations_and_cut_offs_are_forgotten() {
        let now = Utc::now();
        let mut state = state();
        state.revoke(Uuid::new_v4(), now + chrono::Duration::seconds(1), now);
        state.end_sessions(Uuid::new_v4(), now, now);
        state.revoke(Uuid::new_v4(), now - chrono::Duration::seconds(1), now);
        assert_eq!((state.revoked.len(), state.cut_offs.len()), (1, 1));
        state.forget_expired(now + chrono::Duration::hours(2));
        assert_eq!((state.revoked.len(), state.cut_offs.len()), (0, 0));
    }

    #[test]
    fn a_full_replica_drops_the_revocation_that_expires_first() {
        let now = Utc::now();
        let mut state = state();
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        for (minutes, id) in (7..=10).rev().zip(&ids) {
            state.revoke(*id, now + chrono::Duration::minutes(minutes), now);
        }
        assert_eq!(state.revoked.len(), 3);
        assert!(
            !state.revoked.contains_key(&ids[2]),
            "the one expiring first"
        );
        assert!(state.revoked.contains_key(&ids[3]));
    }
}
