//! A service migrates its database in one call: the events tables and its
//! own, sharing one `_sqlx_migrations`, any number of times.

use std::path::Path;

use sqlx::{PgPool, migrate::Migrator};

async fn service_migrator() -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/events/service_migrations");
    Migrator::new(dir).await.unwrap()
}

async fn table_exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_with_creates_the_events_tables_and_the_services_and_can_run_again() {
    let (pool, _) = syncchain_testkit::db::fresh_database().await;

    syncchain_events::migrate_with(&pool, service_migrator().await)
        .await
        .unwrap();
    // Again, as every start does; each side ignores the other's versions.
    syncchain_events::migrate_with(&pool, service_migrator().await)
        .await
        .unwrap();
    syncchain_events::migrate(&pool).await.unwrap();

    for table in ["outbox", "processed_events", "dead_letters", "widgets"] {
        assert!(table_exists(&pool, table).await, "{table} is missing");
    }
    pool.close().await;
}
