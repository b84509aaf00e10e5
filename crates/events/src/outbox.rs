//! The transactional outbox. A service writes its state change and the
//! event describing it in one transaction, so an event exists if and only if
//! the change was committed; publishing happens later, in the relay, and
//! can be retried until JetStream acknowledges it.
//!
//! `enqueue` also sends a `NOTIFY`, delivered by Postgres at commit, so a
//! waiting relay publishes at once instead of on its next poll.

use sqlx::{PgConnection, PgExecutor};

use crate::Envelope;

/// The `LISTEN`/`NOTIFY` channel that wakes relays.
pub const CHANNEL: &str = "syncchain_events_outbox";

/// Adds `envelope` to the outbox. Call it inside the transaction that makes
/// the change the event describes.
#[tracing::instrument(skip_all, fields(event.id = %envelope.id, event.type = %envelope.event_type))]
pub async fn enqueue(conn: &mut PgConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // One statement, one round trip: the row and the notification.
    sqlx::query(
        "WITH queued AS (
             INSERT INTO outbox (event_id, event_type, envelope) VALUES ($1, $2, $3::json)
             RETURNING seq
         )
         SELECT pg_notify($4, '') FROM queued",
    )
    .bind(envelope.id)
    .bind(&envelope.event_type)
    .bind(json)
    .bind(CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many events wait to be published; for readiness and tests.
pub async fn pending<'e>(executor: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(executor)
        .await
}

/// How long the oldest event still to publish has waited, if any waits.
pub async fn oldest_age<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<Option<std::time::Duration>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox",
    )
    .fetch_one(executor)
    .await?;
    Ok(seconds.map(|s| std::time::Duration::from_secs_f64(s.max(0.0))))
}
