//! A service's own database as the host opens it: created when missing,
//! then migrated. The events crate's tables (outbox, processed events, dead
//! letters) live in the same database, so an outgoing event shares the
//! transaction of the change it announces and a consumed one shares the
//! transaction of its effect; both migrators share `_sqlx_migrations` and
//! so ignore each other's versions.

use std::future::Future;

use anyhow::Context;
use sqlx::{PgPool, migrate::Migrator};
use syncchain_platform::database::{DatabaseConfig, DatabaseVars};

/// The variables naming a service's database, with its migrations.
pub trait ServiceDatabase: DatabaseVars + Send + Sync + 'static {
    /// For messages: `users`.
    const SERVICE: &'static str;

    /// The service's embedded migrations: `sqlx::migrate!("./migrations")`
    /// in its own crate.
    fn migrations() -> Migrator;

    /// What the migrations cannot do in SQL, run after them each time.
    fn after_migrations(pool: &PgPool) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = pool;
        async { Ok(()) }
    }
}

/// Applies the events crate's migrations, then the service's own, then its
/// [`ServiceDatabase::after_migrations`].
pub async fn migrate<D: ServiceDatabase>(pool: &PgPool) -> anyhow::Result<()> {
    let failed = || format!("cannot migrate the {} database", D::SERVICE);
    syncchain_events::migrate_with(pool, D::migrations())
        .await
        .with_context(failed)?;
    D::after_migrations(pool).await.with_context(failed)
}

/// Creates the database if needed, opens a pool to it and migrates it; the
/// errors name the variable to fix.
pub async fn open<D: ServiceDatabase>(config: &DatabaseConfig<D>) -> anyhow::Result<PgPool> {
    let pool = config.connect().await?;
    if let Err(error) = migrate::<D>(&pool).await {
        pool.close().await;
        return Err(error);
    }
    Ok(pool)
}
