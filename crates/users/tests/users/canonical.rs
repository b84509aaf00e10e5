//! The canonical-email migration on a database that already holds accounts
//! from before it: ASCII rows take `lower(email)`, the others are recomputed
//! in Rust, and the new constraint keeps canonical duplicates out.

use syncchain_platform::identity::canonical_email;
use syncchain_testkit::process::TempDir;

const FIRST: &str = "20261127100001_create_users.sql";

/// A database migrated only as far as the service's first migration.
async fn database_before_canonical_emails() -> sqlx::PgPool {
    let (pool, _) = syncchain_testkit::db::fresh_database().await;
    let dir = TempDir::new();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    std::fs::copy(source.join(FIRST), dir.path().join(FIRST)).unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

async fn insert(pool: &sqlx::PgPool, email: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, location, contact_number)
         VALUES ($1, $2, 'x', 'A', 'B', 'C', '1234567')",
    )
    .bind(id)
    .bind(email)
    .execute(pool)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn existing_accounts_get_the_rust_canonical_email_when_migrated() {
    let pool = database_before_canonical_emails().await;
    let emails = [
        "Ada@Example.COM",
        "VİCTIM@example.com",
        "ZOE\u{308}@example.com",
    ];
    let mut ids = Vec::new();
    for email in emails {
        ids.push(insert(&pool, email).await);
    }

    syncchain_host::database::migrate::<syncchain_users::UsersDatabase>(&pool)
        .await
        .unwrap();

    for (id, email) in ids.into_iter().zip(emails) {
        let stored: String = sqlx::query_scalar("SELECT email_canonical FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, canonical_email(email), "{email}");
    }
    let old_index: Option<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE indexname = 'users_email_lower_key'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(old_index, None);
}

#[tokio::test]
async fn migrating_again_changes_nothing() {
    let pool = database_before_canonical_emails().await;
    insert(&pool, "VİCTIM@example.com").await;
    syncchain_host::database::migrate::<syncchain_users::UsersDatabase>(&pool)
        .await
        .unwrap();

    syncchain_host::database::migrate::<syncchain_users::UsersDatabase>(&pool)
        .await
        .unwrap();

    let stored: String = sqlx::query_scalar("SELECT email_canonical FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, canonical_email("VİCTIM@example.com"));
}
