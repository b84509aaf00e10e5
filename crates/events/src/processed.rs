//! The processed-event records: one row per event a consumer applied,
//! written with the effect, which turns every redelivery into a no-op.
//!
//! A record is only needed while JetStream could still deliver its event:
//! a stream keeps a message for [`MAX_AGE`] after publication, which comes
//! before processing, and a relay that publishes an event again within the
//! [`DUPLICATE_WINDOW`] is deduplicated. Records older than [`RETENTION`]
//! (both plus a day of margin, for a relay that republishes late) are
//! deleted, so the table stays bounded. Each consumer cleans its own
//! records when it starts and every hour after.
//!
//! The delete runs in batches, each a short statement of its own found
//! through the `(consumer, processed_at)` index, so it never holds many
//! locks or a long transaction; rows another instance is deleting at the
//! same time are skipped rather than waited for.

use std::time::Duration;

use sqlx::PgPool;

use crate::streams::{DUPLICATE_WINDOW, MAX_AGE};

/// How long a processed-event record is kept.
pub const RETENTION: Duration = MAX_AGE
    .saturating_add(DUPLICATE_WINDOW)
    .saturating_add(Duration::from_secs(24 * 60 * 60));

/// Rows deleted per statement.
const BATCH: u32 = 1000;

/// Deletes the records of `consumer` processed more than `older_than` ago;
/// returns how many.
pub async fn clean_up(
    pool: &PgPool,
    consumer: &str,
    older_than: Duration,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM processed_events
                 WHERE consumer = $1 AND processed_at < now() - make_interval(secs => $2)
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED))",
        )
        .bind(consumer)
        .bind(older_than.as_secs_f64())
        .bind(i64::from(BATCH))
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < u64::from(BATCH) {
            return Ok(deleted);
        }
    }
}
