//! Parked messages. A message a consumer cannot apply (undecodable, refused
//! by its handler, or failing past its delivery budget) is stored here byte
//! for byte with the reason, then acknowledged so the consumer carries on.
//! Keeping the raw bytes means nothing is lost: a person can read why, fix
//! the cause and publish it again (`syncchain events dead-letters redrive`,
//! once per row), or set it aside (`discard`); either way the row stays on
//! record. A message is *held* until one of the two happens.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A parked message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub subject: String,
    /// The envelope id, when the payload was a readable envelope.
    pub event_id: Option<Uuid>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub deliveries: i64,
    pub parked_at: DateTime<Utc>,
    /// When it was published again for its consumer.
    pub redriven_at: Option<DateTime<Utc>>,
    /// When a person set it aside.
    pub discarded_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, consumer, subject, event_id, payload, reason, deliveries, parked_at, redriven_at, discarded_at";
const HELD: &str = "redriven_at IS NULL AND discarded_at IS NULL";

/// What is parked; the id and time are the database's.
#[derive(Debug, Clone)]
pub(crate) struct Parked<'a> {
    pub consumer: &'a str,
    pub subject: &'a str,
    pub event_id: Option<Uuid>,
    pub payload: &'a [u8],
    pub reason: &'a str,
    pub deliveries: i64,
}

pub(crate) async fn park(conn: &mut PgConnection, parked: &Parked<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letters (consumer, subject, event_id, payload, reason, deliveries)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(parked.consumer)
    .bind(parked.subject)
    .bind(parked.event_id)
    .bind(parked.payload)
    .bind(parked.reason)
    .bind(parked.deliveries)
    .execute(conn)
    .await?;
    Ok(())
}

/// The messages `consumer` parked, oldest first.
pub async fn list<'e>(
    executor: impl PgExecutor<'e>,
    consumer: &str,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dead_letters WHERE consumer = $1 ORDER BY id"
    ))
    .bind(consumer)
    .fetch_all(executor)
    .await
}

/// Whether the database has this version's `dead_letters` (its migrations
/// ran): a tool reading it can say so rather than fail on a column.
pub async fn schema_is_current<'e>(executor: impl PgExecutor<'e>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) = 2 FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'dead_letters'
           AND column_name IN ('redriven_at', 'discarded_at')",
    )
    .fetch_one(executor)
    .await
}

/// Every message still held (neither redriven nor discarded), oldest first.
pub async fn held_letters<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dead_letters WHERE {HELD} ORDER BY id"
    ))
    .fetch_all(executor)
    .await
}

/// How many messages are held.
pub async fn held<'e>(executor: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT count(*) FROM dead_letters WHERE {HELD}"))
        .fetch_one(executor)
        .await
}

/// The parked message `id`, whatever became of it.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    id: i64,
) -> Result<Option<DeadLetter>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// The held message `id`, locked until the transaction ends, so two
/// redrives of it cannot both go ahead.
pub async fn lock_held(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<DeadLetter>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dead_letters WHERE id = $1 AND {HELD} FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records that `id` was published again.
pub async fn mark_redriven(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dead_letters SET redriven_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the held message `id` aside; `false` when no such message is held.
pub async fn discard<'e>(executor: impl PgExecutor<'e>, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE dead_letters SET discarded_at = now() WHERE id = $1 AND {HELD}"
    ))
    .bind(id)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}
