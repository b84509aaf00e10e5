//! Session state, kept durably here because the gateway's Redis is only a
//! fast path: when Redis restarts empty or evicts, a signed-out token or a
//! demoted admin's old token must not work again. Two records: revoked
//! tokens (until they expire) and, per user, a cut-off before which their
//! tokens no longer count (set by every role change, since tokens carry the
//! role). Each write enqueues its event in the same transaction, so the
//! other services learn of it exactly when it commits.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use syncchain_events::{
    Envelope, outbox,
    payloads::users::{UserSessionsEndedV1, UserTokenRevokedV1},
};
use syncchain_platform::auth::Caller;
use uuid::Uuid;

use crate::{
    domain::{UserId, ValidationError},
    error::UsersError,
    storage::sessions as storage,
};

pub use crate::storage::sessions::Entry;

/// Whether a verified token still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Valid,
    /// Signed out.
    Revoked,
    /// Issued before its user's sessions ended (a role change).
    Ended,
}

/// Where a listing of the session state goes on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCursor {
    kind: i16,
    id: Uuid,
}

impl StateCursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.kind, self.id.simple())
    }

    /// `None` for an empty cursor (the start).
    pub fn decode(raw: &str) -> Result<Option<Self>, ValidationError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let invalid = || ValidationError::new("after", "not a cursor from a previous page");
        let (kind, id) = raw.split_once('.').ok_or_else(invalid)?;
        let kind = match kind {
            "0" => 0,
            "1" => 1,
            _ => return Err(invalid()),
        };
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
        Ok(Some(Self { kind, id }))
    }
}

/// One page of the session state.
#[derive(Debug)]
pub struct StatePage {
    pub entries: Vec<Entry>,
    pub end_cursor: Option<StateCursor>,
    pub has_next_page: bool,
}

/// Session state pages: this many entries unless asked for fewer, never more.
pub const DEFAULT_STATE_PAGE: u32 = 1000;
pub const MAX_STATE_PAGE: u32 = 5000;

#[derive(Clone)]
pub struct Sessions {
    pool: PgPool,
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Revokes the caller's token until it expires; revoking it again
    /// changes nothing and emits nothing.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id))]
    pub async fn revoke(&self, caller: &Caller) -> Result<(), UsersError> {
        let mut tx = self.pool.begin().await?;
        let revoked =
            storage::revoke(&mut tx, caller.token_id, caller.user_id, caller.expires_at).await?;
        if revoked {
            let event = Envelope::new(&UserTokenRevokedV1 {
                user_id: caller.user_id,
                token_id: caller.token_id,
                expires_at: caller.expires_at,
            })?;
            outbox::enqueue(&mut tx, &event).await?;
        }
        storage::prune(&mut tx).await?;
        tx.commit().await?;
        if revoked {
            tracing::info!(user.id = %caller.user_id, "token revoked");
        }
        Ok(())
    }

    /// Whether the caller's (verified) token still counts.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id))]
    pub async fn check(&self, caller: &Caller) -> Result<SessionStatus, UsersError> {
        let (revoked, cutoff) =
            storage::status(&self.pool, caller.token_id, caller.user_id).await?;
        Ok(status_of(caller, revoked, cutoff))
    }

    /// A page of every unexpired revocation and every cut-off later than
    /// `cutoffs_since`, for refilling a cache.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        cutoffs_since: DateTime<Utc>,
        after: Option<StateCursor>,
        first: u32,
    ) -> Result<StatePage, UsersError> {
        let size = match first {
            0 => DEFAULT_STATE_PAGE,
            n => n.min(MAX_STATE_PAGE),
        };
        let after = after.map(|c| (c.kind, c.id));
        let mut entries = storage::list(&self.pool, cutoffs_since, after, size + 1).await?;
        let has_next_page = entries.len() > size as usize;
        entries.truncate(size as usize);
        let end_cursor = entries.last().map(|entry| {
            let (kind, id) = entry.position();
            StateCursor { kind, id }
        });
        Ok(StatePage {
            entries,
            end_cursor,
            has_next_page,
        })
    }
}

fn status_of(caller: &Caller, revoked: bool, cutoff: Option<DateTime<Utc>>) -> SessionStatus {
    if revoked {
        SessionStatus::Revoked
    } else if cutoff.is_some_and(|cutoff| caller.issued_at < cutoff) {
        SessionStatus::Ended
    } else {
        SessionStatus::Valid
    }
}

/// Ends every session `user` holds, inside the caller's transaction (a
/// role change), and enqueues `users.sessions_ended` in it.
pub(crate) async fn end_all(conn: &mut PgConnection, user: UserId) -> Result<(), UsersError> {
    let before = storage::end_sessions(conn, user.as_uuid()).await?;
    let event = Envelope::new(&UserSessionsEndedV1 {
        user_id: user.as_uuid(),
        before,
    })?;
    outbox::enqueue(conn, &event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncchain_platform::auth::Role;

    fn caller_issued(at: DateTime<Utc>) -> Caller {
        Caller {
            user_id: Uuid::new_v4(),
            role: Role::Admin,
            token_id: Uuid::new_v4(),
            expires_at: at + chrono::Duration::hours(1),
            issued_at: at,
        }
    }

    #[test]
    fn a_token_issued_before_the_cutoff_is_ended_and_one_issued_at_it_is_valid() {
        let cutoff = Utc::now();
        let before = caller_issued(cutoff - chrono::Duration::milliseconds(1));
        let at = caller_issued(cutoff);
        assert_eq!(
            status_of(&before, false, Some(cutoff)),
            SessionStatus::Ended
        );
        assert_eq!(status_of(&at, false, Some(cutoff)), SessionStatus::Valid);
        assert_eq!(status_of(&at, true, None), SessionStatus::Revoked);
    }

    #[test]
    fn a_state_cursor_round_trips_and_garbage_is_refused() {
        let cursor = StateCursor {
            kind: 1,
            id: Uuid::new_v4(),
        };
        assert_eq!(StateCursor::decode(&cursor.encode()), Ok(Some(cursor)));
        assert_eq!(StateCursor::decode(""), Ok(None));
        for bad in ["2.00000000000000000000000000000000", "0.xyz", "nope"] {
            assert!(StateCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
