//! Processed-event records are kept while JetStream could still redeliver
//! their event and deleted after, so the table stays bounded.

use syncchain_events::processed::{self, RETENTION};
use syncchain_testkit::eventually;

use crate::{
    consumer::{NAME, start_with},
    support::{WAIT, setup},
};

/// Records `count` events of `consumer` processed `age` ago (a Postgres
/// interval).
async fn record(pool: &sqlx::PgPool, consumer: &str, count: i32, age: &str) {
    sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, processed_at)
         SELECT $1, gen_random_uuid(), now() - $3::interval FROM generate_series(1, $2)",
    )
    .bind(consumer)
    .bind(count)
    .bind(age)
    .execute(pool)
    .await
    .unwrap();
}

/// How many records of `consumer` are older or younger than the retention.
async fn counts(pool: &sqlx::PgPool, consumer: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE processed_at < now() - make_interval(secs => $2)),
                count(*) FILTER (WHERE processed_at >= now() - make_interval(secs => $2))
         FROM processed_events WHERE consumer = $1",
    )
    .bind(consumer)
    .bind(RETENTION.as_secs_f64())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn records_older_than_the_retention_are_deleted_in_batches_and_recent_and_other_consumers_kept()
 {
    let setup = setup().await;
    // More than one batch of expired records.
    record(&setup.pool, "mine", 2500, "30 days").await;
    record(&setup.pool, "mine", 1, "1 hour").await;
    record(&setup.pool, "theirs", 1, "30 days").await;

    let deleted = processed::clean_up(&setup.pool, "mine", RETENTION)
        .await
        .unwrap();

    assert_eq!(deleted, 2500);
    assert_eq!(counts(&setup.pool, "mine").await, (0, 1));
    assert_eq!(counts(&setup.pool, "theirs").await, (1, 0));
    setup.cleanup().await;
}

#[test]
fn records_outlive_the_stream_and_the_duplicate_window() {
    assert!(
        RETENTION
            > syncchain_events::streams::MAX_AGE + syncchain_events::streams::DUPLICATE_WINDOW
    );
}

#[tokio::test]
async fn a_consumer_deletes_its_expired_records_when_it_starts() {
    let setup = setup().await;
    record(&setup.pool, NAME, 3, "30 days").await;
    record(&setup.pool, NAME, 1, "1 minute").await;

    let consumer = start_with(&setup, setup.pool.clone(), crate::consumer::Recorder).await;

    let cleaned = eventually(WAIT, || async { counts(&setup.pool, NAME).await == (0, 1) }).await;
    assert!(cleaned, "expired records were not deleted");
    consumer.stop().await;
    setup.cleanup().await;
}
