//! The one migration step SQL cannot do: the canonical email of a non-ASCII address is
//! Rust's to compute (PostgreSQL's `lower()` maps some letters differently),
//! so after migrating, rows whose address is not ASCII get theirs from
//! [`Email::canonical`]. New rows are written with it already, so this
//! finds nothing to change once the backfill has run; it looks at non-ASCII
//! addresses only.

use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot recompute the canonical emails of non-ASCII addresses")]
    Canonical(#[source] sqlx::Error),
    #[error(
        "accounts {0:?} have emails that differ only in Unicode composition or case from another account's; \
         merge or rename them (UPDATE users SET email = ...) and migrate again"
    )]
    CanonicalClash(Vec<Uuid>),
}

/// Gives every non-ASCII address the canonical email Rust computes; run
/// after each migration.
pub async fn recanonicalise(pool: &PgPool) -> Result<(), MigrationError> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, email, email_canonical FROM users WHERE octet_length(email) <> char_length(email)",
    )
    .fetch_all(pool)
    .await
    .map_err(MigrationError::Canonical)?;
    let mut clashes = Vec::new();
    for (id, email, stored) in rows {
        let canonical = syncchain_platform::identity::canonical_email(&email);
        if canonical == stored {
            continue;
        }
        let result = sqlx::query("UPDATE users SET email_canonical = $2 WHERE id = $1")
            .bind(id)
            .bind(&canonical)
            .execute(pool)
            .await;
        match result {
            Ok(_) => tracing::info!(user.id = %id, "canonical email recomputed"),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => clashes.push(id),
            Err(e) => return Err(MigrationError::Canonical(e)),
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        Err(MigrationError::CanonicalClash(clashes))
    }
}
