//! The service's database: created when missing, then migrated. The events
//! crate's tables (outbox, processed events) live in the same database, so
//! the outbox row shares the transaction of the change it announces; both
//! migrators share `_sqlx_migrations` and so ignore each other's versions.

use sqlx::{PgPool, migrate::MigrateError};
use syncchain_platform::deps::DependencyError;

use crate::config::DatabaseConfig;

/// Creates the database if needed and opens a pool to it.
pub async fn connect(database: &DatabaseConfig) -> Result<PgPool, DependencyError> {
    database.connect().await
}

/// Applies the events crate's migrations, then the users service's own.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    syncchain_events::migrate_with(pool, sqlx::migrate!("./migrations")).await
}
