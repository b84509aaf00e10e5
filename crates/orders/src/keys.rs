//! The purge of placements' idempotency keys past the time they are kept
//! (`SYNCCHAIN_ORDER_IDEMPOTENCY_KEYS_KEPT`). An expired key is already
//! ignored when a placement looks it up, so the purge only bounds the
//! table; it runs at start and then every few minutes, a bounded batch per
//! statement so it never holds many row locks at once. Several instances
//! purging at once delete each row once.

use std::time::Duration;

use sqlx::PgPool;
use syncchain_platform::shutdown::Shutdown;

use crate::{periodic::Sweep, storage};

const EVERY: Duration = Duration::from_secs(10 * 60);
const BATCH: i64 = 1000;

/// Deletes expired keys until `stop` fires.
pub async fn purge(pool: PgPool, kept: Duration, stop: Shutdown) {
    let mut sweep = Sweep::every("idempotency key purge", EVERY);
    while sweep.next(&stop).await {
        sweep.passed(purge_all(&pool, kept, &stop).await);
    }
}

/// Deletes every expired key, a batch per statement.
async fn purge_all(pool: &PgPool, kept: Duration, stop: &Shutdown) -> Result<(), sqlx::Error> {
    loop {
        let deleted = storage::purge_expired_keys(pool, kept, BATCH).await?;
        if deleted > 0 {
            tracing::info!(deleted, "expired idempotency keys purged");
        }
        if deleted < BATCH as u64 || stop.is_cancelled() {
            return Ok(());
        }
    }
}
