//! `syncchain migrate [users|all]`: creates each service's database when
//! missing and applies its embedded migrations, then exits. Services also
//! migrate as they start; this command lets a deployment do it once, ahead
//! of rolling out new instances. It needs only the database settings.

use syncchain_host::{ServiceDatabase, database};
use syncchain_platform::{config::Env, database::DatabaseConfig};

use crate::cli::MigrateTarget;

pub async fn run(target: MigrateTarget, env: Env) -> anyhow::Result<()> {
    if matches!(target, MigrateTarget::Users | MigrateTarget::All) {
        migrate::<syncchain_users::UsersDatabase>(&env).await?;
    }
    if matches!(target, MigrateTarget::Products | MigrateTarget::All) {
        migrate::<syncchain_products::ProductsDatabase>(&env).await?;
    }
    if matches!(target, MigrateTarget::Orders | MigrateTarget::All) {
        migrate::<syncchain_orders::OrdersDatabase>(&env).await?;
    }
    Ok(())
}

async fn migrate<D: ServiceDatabase>(env: &Env) -> anyhow::Result<()> {
    let pool = DatabaseConfig::<D>::from_env(env)?.connect().await?;
    let result = database::migrate::<D>(&pool).await;
    pool.close().await;
    result?;
    tracing::info!(service = D::SERVICE, "database migrated");
    println!("{} database migrated", D::SERVICE);
    Ok(())
}
