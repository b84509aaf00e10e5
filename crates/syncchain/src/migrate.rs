//! `syncchain migrate [users|all]`: creates each service's database when
//! missing and applies its embedded migrations, then exits. Services also
//! migrate as they start; this command lets a deployment do it once, ahead
//! of rolling out new instances. It needs only the database settings.

use anyhow::Context;
use syncchain_platform::config::Env;

use crate::cli::MigrateTarget;

pub async fn run(target: MigrateTarget, env: Env) -> anyhow::Result<()> {
    if matches!(target, MigrateTarget::Users | MigrateTarget::All) {
        let database = syncchain_users::DatabaseConfig::from_env(&env)?;
        let pool = syncchain_users::connect(&database).await?;
        done("users", syncchain_users::migrate(&pool).await, pool).await?;
    }
    if matches!(target, MigrateTarget::Products | MigrateTarget::All) {
        let database = syncchain_products::DatabaseConfig::from_env(&env)?;
        let pool = syncchain_products::connect(&database).await?;
        done("products", syncchain_products::migrate(&pool).await, pool).await?;
    }
    if matches!(target, MigrateTarget::Orders | MigrateTarget::All) {
        let database = syncchain_orders::DatabaseConfig::from_env(&env)?;
        let pool = syncchain_orders::connect(&database).await?;
        done("orders", syncchain_orders::migrate(&pool).await, pool).await?;
    }
    Ok(())
}

async fn done<E>(
    service: &'static str,
    result: Result<(), E>,
    pool: sqlx::PgPool,
) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    pool.close().await;
    result.with_context(|| format!("cannot migrate the {service} database"))?;
    tracing::info!(service, "database migrated");
    println!("{service} database migrated");
    Ok(())
}
