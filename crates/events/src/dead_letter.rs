//! Parked messages. A message a consumer cannot apply (undecodable, refused
//! by its handler, or failing past its delivery budget) is stored here byte
//! for byte with the reason, then acknowledged so the consumer carries on.
//! Keeping the raw bytes means nothing is lost: a person can read why, fix
//! the cause and publish it again.

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
}

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
    sqlx::query_as(
        "SELECT id, consumer, subject, event_id, payload, reason, deliveries, parked_at
         FROM dead_letters WHERE consumer = $1 ORDER BY id",
    )
    .bind(consumer)
    .fetch_all(executor)
    .await
}
