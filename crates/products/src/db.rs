//! The service's database: created when missing, then migrated. The events
//! crate's tables (outbox, processed events, dead letters) live in the same
//! database, so an outgoing event shares the transaction of the change it
//! announces and a consumed one shares the transaction of its effect; both
//! migrators share `_sqlx_migrations` and so ignore each other's versions.

use sqlx::{PgPool, migrate::MigrateError};
use syncchain_platform::deps::DependencyError;

use crate::config::DatabaseConfig;

/// Creates the database if needed and opens a pool to it.
pub async fn connect(database: &DatabaseConfig) -> Result<PgPool, DependencyError> {
    database.connect().await
}

/// Applies the events crate's migrations, then the products service's own.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    syncchain_events::migrate_with(pool, sqlx::migrate!("./migrations")).await
}
