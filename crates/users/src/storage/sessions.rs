//! The SQL of session state: revoked tokens and per-user cut-offs. A
//! revocation is kept a grace period past its token's expiry (verification
//! allows a few seconds of clock leeway) and pruned after that, a bounded
//! batch at a time, whenever a token is revoked.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

/// How long past its expiry a revocation still matters; longer than the
/// token verification's leeway.
const GRACE: &str = "interval '1 minute'";

/// The most expired revocations one write prunes.
const PRUNE_BATCH: i64 = 500;

/// One entry of the session state, in listing order: revocations first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Revoked {
        token_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    Cutoff {
        user_id: Uuid,
        valid_after: DateTime<Utc>,
    },
}

impl Entry {
    /// Where the entry sorts: its kind (0 revoked, 1 cut-off), then its id.
    pub fn position(&self) -> (i16, Uuid) {
        match self {
            Entry::Revoked { token_id, .. } => (0, *token_id),
            Entry::Cutoff { user_id, .. } => (1, *user_id),
        }
    }
}

/// Records a revocation; `false` when the token was already revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    token_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO revoked_tokens (token_id, user_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (token_id) DO NOTHING",
    )
    .bind(token_id)
    .bind(user_id)
    .bind(expires_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Forgets up to a batch of revocations whose tokens are long expired.
pub async fn prune(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM revoked_tokens WHERE token_id IN (
             SELECT token_id FROM revoked_tokens WHERE expires_at < now() - {GRACE} LIMIT $1
         )"
    );
    Ok(sqlx::query(&sql)
        .bind(PRUNE_BATCH)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Ends every session `user_id` holds now: tokens issued before the
/// returned instant no longer count. It is the current time rounded up to
/// the next millisecond (tokens carry milliseconds), so a token issued in
/// the same millisecond as the change, possibly with the old role, is
/// refused too; it never moves back.
pub async fn end_sessions(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO session_cutoffs (user_id, valid_after)
         VALUES ($1, date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond')
         ON CONFLICT (user_id) DO UPDATE
             SET valid_after = GREATEST(session_cutoffs.valid_after, EXCLUDED.valid_after)
         RETURNING valid_after",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// Whether `token_id` is revoked, and the cut-off of `user_id`, if any.
pub async fn status(
    executor: impl PgExecutor<'_>,
    token_id: Uuid,
    user_id: Uuid,
) -> Result<(bool, Option<DateTime<Utc>>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = $1) AS revoked,
                (SELECT valid_after FROM session_cutoffs WHERE user_id = $2) AS valid_after",
    )
    .bind(token_id)
    .bind(user_id)
    .fetch_one(executor)
    .await?;
    Ok((row.try_get("revoked")?, row.try_get("valid_after")?))
}

/// Up to `limit` entries after `after` (see [`Entry::position`]): every
/// revocation still within its grace period, then every cut-off later
/// than `cutoffs_since`.
pub async fn list(
    executor: impl PgExecutor<'_>,
    cutoffs_since: DateTime<Utc>,
    after: Option<(i16, Uuid)>,
    limit: u32,
) -> Result<Vec<Entry>, sqlx::Error> {
    let (kind, id) = after.unwrap_or((-1, Uuid::nil()));
    let sql = format!(
        "SELECT kind, id, user_id, at FROM (
             SELECT 0::int2 AS kind, token_id AS id, user_id, expires_at AS at
               FROM revoked_tokens WHERE expires_at > now() - {GRACE}
             UNION ALL
             SELECT 1::int2, user_id, user_id, valid_after
               FROM session_cutoffs WHERE valid_after > $1
         ) state
         WHERE (kind, id) > ($2, $3)
         ORDER BY kind, id
         LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(cutoffs_since)
        .bind(kind)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            let (kind, id, user_id, at): (i16, Uuid, Uuid, DateTime<Utc>) = (
                row.try_get("kind")?,
                row.try_get("id")?,
                row.try_get("user_id")?,
                row.try_get("at")?,
            );
            Ok(if kind == 0 {
                Entry::Revoked {
                    token_id: id,
                    user_id,
                    expires_at: at,
                }
            } else {
                Entry::Cutoff {
                    user_id,
                    valid_after: at,
                }
            })
        })
        .collect()
}
